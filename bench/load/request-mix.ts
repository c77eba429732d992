import type { OutputFormat } from '../../src/index.js';
import { SCENARIOS, type Scenario } from '../scenarios.js';
import { createRandom } from './stats.js';

/** What a request must end with to count as expected. */
export type Expectation =
  | { type: 'image'; format: OutputFormat }
  /** An error: JSON {error, code, message, statusCode}, or a PNG with X-Chartd-Error-Code when `image`. */
  | { type: 'error'; code: string; status: number; image?: boolean; alternatives?: ReadonlyArray<{ code: string; status: number }> };

/** One prepared HTTP request; bodies are built once and reused. */
export interface LoadRequest {
  /** What it is, for the outcome table: "POST bar, 50 categories 800x400@1 webp". */
  label: string;
  /** valid: a chart that must render; invalid: must be refused with `expect.code`; oom: chaos, blows its worker's heap. */
  kind: 'valid' | 'invalid' | 'oom';
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  expect: Expectation;
}

export interface MixOptions {
  formats: readonly OutputFormat[];
  /** Share of invalid requests, 0..1. */
  invalidRatio: number;
  /** Chart.js version sent with every valid request (the comparison pins 4: the baselines run Chart.js 4). */
  version?: string;
  /** Size variants; the comparison keeps to the scenarios' own sizes. */
  sizes: readonly SizeVariant[];
  seed: number;
}

export const SIZE_VARIANTS = ['native', 'small', 'hidpi'] as const;
/** native: the scenario's own size; small: half of it; hidpi: its size at devicePixelRatio 2. */
export type SizeVariant = (typeof SIZE_VARIANTS)[number];

/** Longest GET URL sent: chartd takes 64 KiB of request line and headers (docs/API.md). */
const MAX_GET_URL = 60_000;

export const SOAK_FORMATS: readonly OutputFormat[] = ['png', 'webp', 'jpeg', 'svg', 'base64'];

/**
 * The render-core scenarios × sizes × formats × GET/POST, and ~invalidRatio
 * requests that must be refused with a documented code. `next()` draws from a
 * seeded PRNG, so a run is reproducible.
 */
export class RequestMix {
  readonly valid: LoadRequest[];
  readonly invalid: LoadRequest[];
  readonly #random: () => number;
  readonly #invalidRatio: number;

  constructor(options: MixOptions) {
    this.valid = buildValidRequests(options);
    this.invalid = options.invalidRatio > 0 ? buildInvalidRequests() : [];
    this.#random = createRandom(options.seed);
    this.#invalidRatio = options.invalidRatio;
  }

  next(): LoadRequest {
    const pool = this.invalid.length > 0 && this.#random() < this.#invalidRatio ? this.invalid : this.valid;
    return pool[Math.floor(this.#random() * pool.length)]!;
  }
}

function buildValidRequests(options: MixOptions): LoadRequest[] {
  const requests: LoadRequest[] = [];
  for (const scenario of SCENARIOS) {
    for (const size of options.sizes) {
      const { width, height, devicePixelRatio } = resize(scenario, size);
      for (const format of options.formats) {
        const params = { chart: scenario.request.chart, width, height, devicePixelRatio, format, version: options.version ?? scenario.request.version };
        const label = `${scenario.name} ${width}x${height}@${devicePixelRatio} ${format}`;
        const get = getRequest(params);
        if (get.path.length <= MAX_GET_URL) requests.push({ ...get, label: `GET ${label}`, kind: 'valid', expect: { type: 'image', format } });
        requests.push({ ...postRequest(params), label: `POST ${label}`, kind: 'valid', expect: { type: 'image', format } });
      }
    }
  }
  return requests;
}

function resize(scenario: Scenario, size: SizeVariant): { width: number; height: number; devicePixelRatio: number } {
  const width = Number(scenario.request.width ?? 500);
  const height = Number(scenario.request.height ?? 300);
  const devicePixelRatio = Number(scenario.request.devicePixelRatio ?? 1);
  if (size === 'small') return { width: Math.round(width / 2), height: Math.round(height / 2), devicePixelRatio };
  if (size === 'hidpi') return { width, height, devicePixelRatio: 2 };
  return { width, height, devicePixelRatio };
}

interface ChartParams {
  chart: unknown;
  width?: number;
  height?: number;
  devicePixelRatio?: number;
  format?: string;
  version?: string | number | undefined;
  [extra: string]: unknown;
}

/** GET with QuickChart's short names (c, w, h, f, v), config as JSON text. */
function getRequest(params: ChartParams, headers: Record<string, string> = {}): Pick<LoadRequest, 'method' | 'path' | 'headers'> {
  const query: Array<[string, unknown]> = [
    ['c', typeof params.chart === 'string' ? params.chart : JSON.stringify(params.chart)],
    ['w', params.width],
    ['h', params.height],
    ['devicePixelRatio', params.devicePixelRatio],
    ['f', params.format],
    ['v', params.version],
  ];
  const search = query
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`)
    .join('&');
  return { method: 'GET', path: `/chart?${search}`, headers };
}

/** POST with the long names in a JSON body. */
function postRequest(params: ChartParams): Pick<LoadRequest, 'method' | 'path' | 'headers' | 'body'> {
  return jsonPost(JSON.stringify(params));
}

function jsonPost(text: string): Pick<LoadRequest, 'method' | 'path' | 'headers' | 'body'> {
  return { method: 'POST', path: '/chart', headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
}

const BAR = { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'n', data: [3, 1, 2] }] } };

function invalid(label: string, code: string, status: number, request: Pick<LoadRequest, 'method' | 'path' | 'headers' | 'body'>): LoadRequest {
  return { ...request, label: `invalid: ${label}`, kind: 'invalid', expect: { type: 'error', code, status } };
}

/** Requests chartd must refuse, one per documented client error that a request can trigger deterministically. */
function buildInvalidRequests(): LoadRequest[] {
  const nested: Record<string, unknown> = {};
  let cursor = nested;
  for (let i = 0; i < 40; i++) cursor = (cursor.next = {}) as Record<string, unknown>;
  return [
    invalid('no chart', 'CONFIG_MISSING', 400, { method: 'GET', path: '/chart?w=400', headers: {} }),
    invalid('config syntax', 'CONFIG_SYNTAX', 400, getRequest({ chart: "{type:'bar',data:{" })),
    invalid('a callback that throws', 'SCRIPT_ERROR', 400, getRequest({ chart: "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:function(v){throw new Error('no')}}}]}}}" })),
    invalid('width 5000', 'IMAGE_TOO_LARGE', 413, getRequest({ chart: BAR, width: 5000 })),
    invalid('16 MP budget', 'IMAGE_TOO_LARGE', 413, postRequest({ chart: BAR, width: 3000, height: 3000, devicePixelRatio: 2 })),
    invalid('format gif', 'FORMAT_UNSUPPORTED', 400, getRequest({ chart: BAR, format: 'gif' })),
    invalid('version 7', 'VERSION_UNSUPPORTED', 400, getRequest({ chart: BAR, version: '7' })),
    invalid('type pyramid', 'CHART_TYPE_UNKNOWN', 400, getRequest({ chart: { ...BAR, type: 'pyramid' } })),
    invalid('devicePixelRatio 9', 'PARAM_INVALID', 400, postRequest({ chart: BAR, devicePixelRatio: 9 })),
    invalid('Infinity', 'CONFIG_NOT_FINITE', 400, postRequest({ chart: "{type:'bar',data:{datasets:[{data:[1,Infinity]}]}}" })),
    invalid('101 datasets', 'CONFIG_TOO_MANY_DATASETS', 400, postRequest({ chart: { type: 'bar', data: { datasets: Array.from({ length: 101 }, () => ({ data: [1] })) } } })),
    invalid('40 levels deep', 'CONFIG_TOO_DEEP', 400, postRequest({ chart: { ...BAR, options: nested } })),
    invalid('10,001-character label', 'CONFIG_STRING_TOO_LONG', 400, postRequest({ chart: { ...BAR, data: { ...BAR.data, labels: ['x'.repeat(10_001)] } } })),
    invalid('no type', 'CONFIG_INVALID', 400, postRequest({ chart: { data: BAR.data } })),
    invalid('malformed JSON body', 'PARAM_INVALID', 400, jsonPost('{"chart": {"type": ')),
    invalid('unknown route', 'NOT_FOUND', 404, { method: 'GET', path: '/charts', headers: {} }),
    // Adversarial (issue 9): prototype names and small configs that ask for unbounded work.
    invalid('format constructor', 'FORMAT_UNSUPPORTED', 400, getRequest({ chart: BAR, format: 'constructor' })),
    invalid('format __proto__', 'FORMAT_UNSUPPORTED', 400, postRequest({ chart: BAR, format: '__proto__' })),
    invalid('type toString', 'CHART_TYPE_UNKNOWN', 400, getRequest({ chart: { ...BAR, type: 'toString' } })),
    invalid('bkg that is no colour', 'PARAM_INVALID', 400, { ...getRequest({ chart: BAR }), path: `${getRequest({ chart: BAR }).path}&bkg=notacolor` }),
    invalid('10^12 ticks (Chart.js 2 stepSize)', 'CONFIG_TOO_MANY_TICKS', 400, getRequest({ chart: "{type:'line',data:{labels:['a','b'],datasets:[{data:[1,2]}]},options:{scales:{yAxes:[{ticks:{min:0,max:1,stepSize:1e-12}}]}}}" })),
    invalid('ticks.count 1e8 (Chart.js 4)', 'CONFIG_TOO_MANY_TICKS', 400, postRequest({ chart: { ...BAR, options: { scales: { y: { ticks: { count: 1e8 } } } } }, version: '4' })),
    invalid('dash [0.001, 0.001]', 'CONFIG_DASH_TOO_FINE', 400, postRequest({ chart: { ...BAR, options: { scales: { yAxes: [{ gridLines: { borderDash: [0.001, 0.001] } }] } } }, width: 2000, height: 2000, devicePixelRatio: 2 })),
    invalid('5,000-slice pie', 'CONFIG_TOO_MANY_SLICES', 400, postRequest({ chart: { type: 'pie', data: { datasets: [{ data: Array.from({ length: 5000 }, (_, i) => i + 1) }] } } })),
    {
      ...getRequest({ chart: { ...BAR, type: 'pyramid' } }, { accept: 'image/avif,image/webp,image/*,*/*;q=0.8' }),
      label: 'invalid: type pyramid from an <img> (error image)',
      kind: 'invalid',
      expect: { type: 'error', code: 'CHART_TYPE_UNKNOWN', status: 400, image: true },
    },
  ];
}

/** A chart whose render allocates until its worker's heap limit kills it (the fault-hook fixture preloaded in the server's workers). */
export function buildOomRequest(): LoadRequest {
  const chart = { ...BAR, options: { plugins: { chartdTest: { oom: true } } } };
  return {
    ...postRequest({ chart }),
    label: 'chaos: oom config',
    kind: 'oom',
    // Chaos may SIGKILL the worker before its heap runs out: that is a crash.
    expect: { type: 'error', code: 'RENDER_OUT_OF_MEMORY', status: 400, alternatives: [{ code: 'WORKER_CRASHED', status: 500 }] },
  };
}
