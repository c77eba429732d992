/**
 * How chartd looks at and reports values (request input, configs, files,
 * measurements): one plain-object check, one way to quote a value in an error
 * message, one rounding for logs and reports.
 */

/** An object that is not an array (nor null): a JSON object. */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** At most `max` characters of `text`, with an ellipsis when cut: error messages quote input, bounded. */
export function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** What kind of value this is, for "must be …, got …" messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string "${truncate(value, 32)}"`;
  return `a ${typeof value}`;
}

/** `value` rounded to `digits` decimals, for log fields and reports; NaN and infinities pass through. */
export function roundTo(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
