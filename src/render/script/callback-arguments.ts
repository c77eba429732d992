import { types } from 'node:util';
import { MARKERS } from './markers.js';

/**
 * What a callback receives from Chart.js, as JSON for the sandbox: plain values
 * as they are; the chart, a scale, a data or dataset context, the chart's data
 * as markers the sandbox turns into its own objects (the config it evaluated, so
 * `context.dataset.data` and `ctx.chart.data.labels` work as in a browser);
 * anything else (canvas objects, Chart.js elements) as its plain fields, shallowly.
 */
export function snapshotArguments(args: readonly unknown[]): string {
  return JSON.stringify({ v: args.map((arg) => snapshot(arg, 0)) });
}

/**
 * `this` for a callback: Chart.js calls tick callbacks on their scale, whose
 * `getLabelForValue` callbacks use. A scale's labels cross once per render (`sent`
 * remembers which); '' for anything else.
 */
export function snapshotThis(self: unknown, sent: Set<string>): string {
  if (!isScale(self)) return '';
  return JSON.stringify({ v: { [MARKERS.scale]: describeScale(self, sent) } });
}

const MAX_DEPTH = 4;
const MAX_ITEMS = 100_000;
const MAX_KEYS = 200;
const CONTEXT_FIELDS = ['dataIndex', 'datasetIndex', 'index', 'active', 'type', 'mode', 'raw', 'parsed', 'label', 'value'] as const;

type Scale = { id?: unknown; type?: unknown; axis?: unknown; min?: unknown; max?: unknown; getLabels?: () => unknown };

function snapshot(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'undefined':
      return { [MARKERS.undefined]: true };
    case 'number':
      return Number.isFinite(value) || Number.isNaN(value) ? value : { [MARKERS.number]: String(value) };
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      return String(value);
    case 'function':
    case 'symbol':
      return { [MARKERS.undefined]: true };
    default:
      break;
  }
  if (value === null) return null;
  // Chart.js 3 and 4 pass their option resolvers (Proxies) to scriptable options:
  // reading them would resolve every option, the one being computed included.
  if (types.isProxy(value)) return { [MARKERS.undefined]: true };
  if (value instanceof Date) return { [MARKERS.date]: value.getTime() };
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((item) => snapshot(item, depth + 1));
  const object = value as Record<string, unknown>;
  if (typeof object.getDatasetMeta === 'function' || (object.chart !== undefined && typeof object.chart === 'object' && 'config' in object && 'ctx' in object)) {
    return { [MARKERS.chart]: true };
  }
  if (isScale(object)) return { [MARKERS.scale]: describeScale(object, new Set()) };
  // Chart.js 2, 3 and 4 scriptable contexts and chartjs-plugin-datalabels' context: read through the prototype chain.
  if ('chart' in object && ('dataIndex' in object || 'datasetIndex' in object)) {
    const context: Record<string, unknown> = {};
    for (const field of CONTEXT_FIELDS) if (field in object) context[field] = snapshot(object[field], depth + 1);
    return { [MARKERS.context]: context };
  }
  if ('datasets' in object && Array.isArray(object.datasets) && 'labels' in object) return { [MARKERS.data]: true };
  const copy: Record<string, unknown> = {};
  let keys = 0;
  for (const key of Object.keys(object)) {
    if (++keys > MAX_KEYS) break;
    const field = object[key];
    // Class instances (elements, gradients) give their plain fields only.
    if (field !== null && typeof field === 'object' && !isPlain(field) && !Array.isArray(field) && !(field instanceof Date)) continue;
    copy[key] = snapshot(field, depth + 1);
  }
  return copy;
}

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isScale(value: unknown): value is Scale {
  return value !== null && typeof value === 'object' && typeof (value as { getPixelForValue?: unknown }).getPixelForValue === 'function';
}

function describeScale(scale: Scale, sent: Set<string>): Record<string, unknown> {
  const id = String(scale.id ?? '');
  const description: Record<string, unknown> = {
    id,
    type: typeof scale.type === 'string' ? scale.type : undefined,
    axis: typeof scale.axis === 'string' ? scale.axis : undefined,
    min: typeof scale.min === 'number' ? scale.min : undefined,
    max: typeof scale.max === 'number' ? scale.max : undefined,
  };
  if (!sent.has(id) && typeof scale.getLabels === 'function') {
    const labels = scale.getLabels();
    if (Array.isArray(labels)) description.labels = labels.slice(0, MAX_ITEMS).map((label) => snapshot(label, MAX_DEPTH - 1));
    sent.add(id);
  }
  return description;
}
