import { ChartdError } from '../errors.js';
import type { RenderLimits } from './limits.js';
import { describe, isPlainRecord } from '../values.js';

/**
 * Checks a parsed config against the limits and Chart.js' structural needs, and
 * returns a sanitised deep copy (the caller's object is never touched, and the
 * copy is plain data that crosses threads). NaN becomes null (a gap, as Chart.js
 * draws NaN), while ±Infinity is refused (Chart.js' tick generation would never end).
 */
export function validateChartConfig(config: Record<string, unknown>, limits: RenderLimits): Record<string, unknown> {
  // Shape and counts first: they read only lengths, so a million points is
  // refused as such before the deep copy walks them.
  checkStructure(config, limits);
  const copy = copyWithinLimits(config, limits) as Record<string, unknown>;
  copy.data ??= { datasets: [] };
  return copy;
}

/** What one copy has counted: a module-level walker, so V8 optimises it once rather than a closure per config. */
interface CopyState {
  nodes: number;
  readonly limits: RenderLimits;
}

function copyWithinLimits(root: unknown, limits: RenderLimits): unknown {
  return copyValue(root, 'chart', 0, { nodes: 0, limits });
}

function copyValue(value: unknown, path: string, depth: number, state: CopyState): unknown {
  const { limits } = state;
  if (++state.nodes > limits.maxNodes) throw configTooLarge(limits);
  switch (typeof value) {
    case 'number':
      if (Number.isNaN(value)) return null;
      if (!Number.isFinite(value)) {
        throw new ChartdError('CONFIG_NOT_FINITE', `${path} is ${value}; numbers must be finite (use null for a gap)`);
      }
      return value;
    case 'string':
      if (value.length > limits.maxStringLength) {
        throw new ChartdError(
          'CONFIG_STRING_TOO_LONG',
          `${path} is ${value.length} characters long, over the limit of ${limits.maxStringLength}`,
        );
      }
      return value;
    case 'function':
      throw new ChartdError(
        'CONFIG_FUNCTION',
        `${path} is a function of this process: functions run only in chartd's sandbox, so pass the config as JavaScript text (quickchart-js does) instead of an object`,
      );
    case 'bigint':
    case 'symbol':
      throw new ChartdError('CONFIG_INVALID', `${path} is a ${typeof value}, which a chart config cannot hold`);
    case 'object': {
      if (value === null) return value;
      if (depth >= limits.maxDepth) {
        throw new ChartdError('CONFIG_TOO_DEEP', `${path} is nested deeper than ${limits.maxDepth} levels`);
      }
      if (Array.isArray(value)) {
        const array = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          // A data array's finite numbers, the bulk of a large config, are counted without building a path only an error would need.
          if (typeof item === 'number' && Number.isFinite(item)) {
            if (++state.nodes > limits.maxNodes) throw configTooLarge(limits);
            array[i] = item;
          } else {
            array[i] = copyValue(item, `${path}[${i}]`, depth + 1, state);
          }
        }
        return array;
      }
      const record = value as Record<string, unknown>;
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(record)) {
        if (key.length > limits.maxStringLength) {
          throw new ChartdError('CONFIG_STRING_TOO_LONG', `a key in ${path} is over ${limits.maxStringLength} characters`);
        }
        // __proto__ as a JSON key is data, never a prototype: define, do not assign.
        Object.defineProperty(copy, key, { value: copyValue(record[key], `${path}.${key}`, depth + 1, state), enumerable: true, writable: true, configurable: true });
      }
      return copy;
    }
    default:
      return value;
  }
}

function configTooLarge(limits: RenderLimits): ChartdError {
  return new ChartdError('CONFIG_TOO_LARGE', `chart has more than ${limits.maxNodes} values`);
}

function checkStructure(config: Record<string, unknown>, limits: RenderLimits): void {
  if (config.type !== undefined && typeof config.type !== 'string') {
    throw new ChartdError('CONFIG_INVALID', `chart.type must be a string such as "bar" or "line", got ${describe(config.type)}`);
  }
  const data = config.data ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ChartdError('CONFIG_INVALID', `chart.data must be an object, got ${describe(data)}`);
  }
  // As Chart.js: no data is an empty chart, and a mixed chart may give each dataset its type instead of the chart one.
  const typed = Array.isArray((data as Record<string, unknown>).datasets) && ((data as Record<string, unknown>).datasets as unknown[]).length > 0 &&
    ((data as Record<string, unknown>).datasets as unknown[]).every((dataset) => typeof (dataset as { type?: unknown } | null)?.type === 'string');
  if ((typeof config.type !== 'string' || config.type === '') && !typed) {
    throw new ChartdError('CONFIG_INVALID', 'chart.type is required, e.g. "bar", "line", "pie" (or a type on every dataset)');
  }
  const { labels, datasets } = data as Record<string, unknown>;
  if (labels !== undefined && labels !== null && !Array.isArray(labels)) {
    throw new ChartdError('CONFIG_INVALID', `chart.data.labels must be an array, got ${describe(labels)}`);
  }
  if (datasets !== undefined && !Array.isArray(datasets)) {
    throw new ChartdError('CONFIG_INVALID', `chart.data.datasets must be an array, got ${describe(datasets)}`);
  }
  const list = (datasets ?? []) as unknown[];
  if (list.length > limits.maxDatasets) {
    throw new ChartdError('CONFIG_TOO_MANY_DATASETS', `chart.data.datasets has ${list.length} datasets, over the limit of ${limits.maxDatasets}`);
  }
  let points = Array.isArray(labels) ? labels.length : 0;
  list.forEach((dataset, i) => {
    if (!isPlainRecord(dataset)) {
      throw new ChartdError('CONFIG_INVALID', `chart.data.datasets[${i}] must be an object, got ${describe(dataset)}`);
    }
    const { data: values, type } = dataset as Record<string, unknown>;
    if (values !== undefined && values !== null && !Array.isArray(values)) {
      throw new ChartdError('CONFIG_INVALID', `chart.data.datasets[${i}].data must be an array, got ${describe(values)}`);
    }
    if (type !== undefined && typeof type !== 'string') {
      throw new ChartdError('CONFIG_INVALID', `chart.data.datasets[${i}].type must be a string, got ${describe(type)}`);
    }
    points += Array.isArray(values) ? values.length : 0;
  });
  if (points > limits.maxDataPoints) {
    throw new ChartdError('CONFIG_TOO_MANY_POINTS', `chart has ${points} data points and labels, over the limit of ${limits.maxDataPoints}`);
  }
}
