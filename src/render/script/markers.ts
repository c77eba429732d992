/**
 * Keys of the marker objects that stand for what JSON cannot carry between the
 * sandbox and the host. They start with a NUL character, which no chart option
 * name has; a config that spells one out only confuses its own render.
 */
export const MARKERS = Object.freeze({
  fn: '\u0000chartd:fn',
  date: '\u0000chartd:date',
  number: '\u0000chartd:number',
  undefined: '\u0000chartd:undefined',
  gradient: '\u0000chartd:gradient',
  pattern: '\u0000chartd:pattern',
  context: '\u0000chartd:context',
  scale: '\u0000chartd:scale',
  chart: '\u0000chartd:chart',
  data: '\u0000chartd:data',
  // A global of the sandbox, reached through QuickJS's C API: no NUL in it.
  bridge: '__chartdBridge',
});

export type MarkerKind = keyof typeof MARKERS;

/** The marker an exported value is, if it is one. */
export function markerOf(value: unknown): { kind: 'fn' | 'date' | 'number' | 'undefined' | 'gradient' | 'pattern'; payload: unknown } | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  for (const kind of ['fn', 'date', 'number', 'undefined', 'gradient', 'pattern'] as const) {
    if (key === MARKERS[kind]) return { kind, payload: (value as Record<string, unknown>)[key] };
  }
  return undefined;
}
