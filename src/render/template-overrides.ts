import { ChartdError } from '../errors.js';
import { readChartRequest, type RawChartRequest } from './chart-request.js';
import { type ChartJsMajor, type RenderJob, type RenderRequest } from './job.js';
import { isPlainRecord, truncate } from '../values.js';
import type { RenderLimits } from './limits.js';
import { toRenderRequest } from './quickchart-params.js';
import { createRenderJob } from './render-chart.js';

/**
 * QuickChart's chart templates: a stored chart (POST /chart/create) rendered with
 * some of its content replaced by query parameters of GET /chart/render/:id
 * (docs/API.md, "Stored charts and templates"):
 *
 * - `title`: the chart's title (shown);
 * - `labels`: comma-separated labels of the label axis (data.labels);
 * - `dataN`: comma-separated values of dataset N (1-based): numbers, `(x, y)` or
 *   `(x, y, r)` points, JSON objects, or a JSON array for the whole list; empty or
 *   `null` is a gap;
 * - `labelN`: dataset N's label (legend), as given;
 * - `backgroundColorN`, `borderColorN`: one colour, or comma-separated colours
 *   (one a data point), for dataset N;
 *
 * and the image parameters `w`/`width`, `h`/`height`, `f`/`format`,
 * `bkg`/`backgroundColor`, `devicePixelRatio`, `v`/`version` (and `svgText`) over
 * the stored request's own. The chart text itself (`c`, `chart`, `encoding`)
 * cannot be replaced. Only these fixed names are read: any other parameter
 * (`__proto__`, `constructor`, `data0`) is ignored, as QuickChart ignores unknown ones.
 */
export interface TemplateOverrides {
  title?: string;
  labels?: string[];
  /** By 0-based dataset index. */
  datasets: Map<number, DatasetOverrides>;
}

export interface DatasetOverrides {
  data?: unknown[];
  label?: string;
  backgroundColor?: string | string[];
  borderColor?: string | string[];
}

const DATASET_PARAM = /^(data|label|backgroundColor|borderColor)([1-9][0-9]{0,3})$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** A stored chart's job: its request as stored, the query's image parameters over it, the template overrides applied. */
export function createStoredChartJob(raw: Extract<RawChartRequest, { kind: 'stored' }>, limits: RenderLimits): RenderJob {
  const request = withImageParams(readChartRequest(raw.chart), raw.params);
  const overrides = readTemplateOverrides(raw.params, limits);
  if (!overrides) return createRenderJob(request, limits);
  return createRenderJob(request, limits, { adjustConfig: (config, version) => applyTemplateOverrides(config, overrides, version) });
}

/** The stored request with the query's image parameters (any of them given) in place of its own. */
function withImageParams(stored: RenderRequest, params: Record<string, string>): RenderRequest {
  // The stored chart text is the chart: the query's chart parameters are not read at all.
  const imageParams: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(params)) if (key !== 'c' && key !== 'chart' && key !== 'encoding') imageParams[key] = value;
  const fromQuery = toRenderRequest(imageParams) as unknown as Record<string, unknown>;
  const merged = { ...stored } as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(fromQuery)) {
    if (key === 'chart' || key === 'chartIfPlusIsSpace' || value === undefined) continue;
    merged[key] = value;
  }
  return merged as unknown as RenderRequest;
}

/** The template parameters of a query, or undefined when it has none. Throws PARAM_INVALID for a value that cannot be read. */
export function readTemplateOverrides(params: Record<string, string>, limits: RenderLimits): TemplateOverrides | undefined {
  const overrides: TemplateOverrides = { datasets: new Map() };
  let any = false;
  for (const [name, value] of Object.entries(params)) {
    if (name === 'title') {
      overrides.title = value;
      any = true;
      continue;
    }
    if (name === 'labels') {
      overrides.labels = value === '' ? [] : value.split(',').map((label) => label.trim());
      any = true;
      continue;
    }
    const match = DATASET_PARAM.exec(name);
    if (!match) continue;
    const field = match[1] as keyof DatasetOverrides;
    const index = Number(match[2]) - 1;
    if (index >= limits.maxDatasets) {
      throw new ChartdError('CONFIG_TOO_MANY_DATASETS', `${name} names dataset ${index + 1}, over the limit of ${limits.maxDatasets} datasets`);
    }
    let dataset = overrides.datasets.get(index);
    if (!dataset) overrides.datasets.set(index, (dataset = {}));
    switch (field) {
      case 'data':
        dataset.data = readDataValues(name, value);
        break;
      case 'label':
        dataset.label = value;
        break;
      case 'backgroundColor':
      case 'borderColor': {
        const colours = splitTopLevel(value).map((colour) => colour.trim());
        dataset[field] = colours.length === 1 ? colours[0]! : colours;
        break;
      }
    }
    any = true;
  }
  return any ? overrides : undefined;
}

/**
 * Applies template overrides to a parsed config (before it is validated, so the
 * result is held to every limit). `version` decides where the title goes:
 * options.title (Chart.js 2) or options.plugins.title (3 and 4).
 */
export function applyTemplateOverrides(config: Record<string, unknown>, overrides: TemplateOverrides, version: ChartJsMajor): void {
  if (overrides.title !== undefined) {
    const options = ownRecord(config, 'options', 'chart.options');
    const holder = version === 2 ? options : ownRecord(options, 'plugins', 'chart.options.plugins');
    const title = ownRecord(holder, 'title', version === 2 ? 'chart.options.title' : 'chart.options.plugins.title');
    title.display = true;
    title.text = overrides.title;
  }
  if (overrides.labels === undefined && overrides.datasets.size === 0) return;
  const data = ownRecord(config, 'data', 'chart.data');
  if (overrides.labels !== undefined) data.labels = overrides.labels;
  if (overrides.datasets.size === 0) return;
  const existing = Object.hasOwn(data, 'datasets') ? data.datasets : undefined;
  if (existing !== undefined && existing !== null && !Array.isArray(existing)) {
    throw new ChartdError('PARAM_INVALID', 'the stored chart\'s data.datasets is not an array: its datasets cannot be overridden');
  }
  const datasets = (existing ?? []) as unknown[];
  data.datasets = datasets;
  for (const [index, fields] of overrides.datasets) {
    // A template may add datasets: the ones before it, if missing, are empty.
    while (datasets.length <= index) datasets.push({ data: [] });
    const dataset = datasets[index];
    if (!isPlainRecord(dataset)) {
      throw new ChartdError('PARAM_INVALID', `the stored chart's dataset ${index + 1} is not an object: it cannot be overridden`);
    }
    for (const key of ['data', 'label', 'backgroundColor', 'borderColor'] as const) {
      // eslint-disable-next-line no-restricted-syntax -- four fixed names, not the request's
      if (fields[key] !== undefined) dataset[key] = fields[key];
    }
  }
}

/** `dataN`: a JSON array, or comma-separated numbers, `(x, y[, r])` points and JSON objects. */
function readDataValues(name: string, value: string): unknown[] {
  const text = value.trim();
  if (text.startsWith('[')) {
    const parsed = parseJson(name, text);
    if (!Array.isArray(parsed)) throw new ChartdError('PARAM_INVALID', `${name} is not a JSON array`);
    return parsed;
  }
  if (text === '') return [];
  return splitTopLevel(text).map((item, i) => readDataValue(name, item.trim(), i));
}

function readDataValue(name: string, item: string, position: number): unknown {
  if (item === '' || item === 'null') return null;
  if (NUMBER.test(item)) return Number(item);
  if (item.startsWith('{')) return parseJson(name, item);
  if (item.startsWith('(') && item.endsWith(')')) {
    const parts = item.slice(1, -1).split(',').map((part) => part.trim());
    if (parts.length === 2 || parts.length === 3) {
      const [x, y, r] = parts as [string, string, string | undefined];
      const point: Record<string, unknown> = { x: NUMBER.test(x) ? Number(x) : x, y: toNumber(name, y, position) };
      if (r !== undefined) point.r = toNumber(name, r, position);
      return point;
    }
  }
  throw new ChartdError(
    'PARAM_INVALID',
    `${name}: value ${position + 1} ("${truncate(item, 32)}") is not a number, an (x, y) point or a JSON object`,
  );
}

function toNumber(name: string, text: string, position: number): number | null {
  if (text === '' || text === 'null') return null;
  if (!NUMBER.test(text)) throw new ChartdError('PARAM_INVALID', `${name}: value ${position + 1} has "${truncate(text, 32)}" where a number belongs`);
  return Number(text);
}

function parseJson(name: string, text: string): unknown {
  try {
    // JSON.parse keeps a "__proto__" key as data; validation copies it as such.
    return JSON.parse(text);
  } catch (error) {
    throw new ChartdError('PARAM_INVALID', `${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Splits on commas outside parentheses, brackets, braces and double quotes: "rgba(1,2,3,0.5),red" is two colours. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === '(' || ch === '[' || ch === '{') {
      depth++;
    } else if ((ch === ')' || ch === ']' || ch === '}') && depth > 0) {
      depth--;
    } else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** `holder[key]` as an object of its own, created when absent; anything else there is refused by name. */
function ownRecord(holder: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = Object.hasOwn(holder, key) ? holder[key] : undefined;
  if (value === undefined || value === null) {
    const created: Record<string, unknown> = {};
    holder[key] = created;
    return created;
  }
  if (!isPlainRecord(value)) throw new ChartdError('PARAM_INVALID', `the stored chart's ${path} is not an object: the template cannot set it`);
  return value;
}
