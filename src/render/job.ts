import { Color } from '@kurkle/color';
import { ChartdError } from '../errors.js';
import type { RenderLimits } from './limits.js';
import type { ScriptSession } from './script/script-session.js';

export const OUTPUT_FORMATS = ['png', 'webp', 'jpeg', 'svg', 'pdf', 'base64'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CHARTJS_MAJORS = [2, 3, 4] as const;
export type ChartJsMajor = (typeof CHARTJS_MAJORS)[number];

/** What a caller passes: loose types, as they arrive from a query string or JSON body. */
export interface RenderRequest {
  /** Chart.js config: an object, or JSON / JavaScript-object-literal text. */
  chart: unknown;
  /** Chart.js version: "2", "3", "4", "2.9.4", "latest"...; absent: see docs/API.md. */
  version?: string | number | undefined;
  width?: number | string | undefined;
  height?: number | string | undefined;
  devicePixelRatio?: number | string | undefined;
  backgroundColor?: string | undefined;
  format?: string | undefined;
  /** SVG only: `text` (the default; text as `<text>`) or `outlines` (every glyph as a path: exact, needs no fonts). */
  svgText?: string | undefined;
  /** `chart` as a URL query reads with '+' as a space, tried when `chart` does not parse (see parseChartConfig). */
  chartIfPlusIsSpace?: string | undefined;
}

/**
 * A render job: plain data only, so it crosses thread boundaries by structured
 * clone. `config` is already parsed and validated.
 */
export interface RenderJob {
  config: Record<string, unknown>;
  /**
   * The sandbox that holds the config's functions, when its text was JavaScript
   * (not crossing processes; renderJob disposes it). `scriptSource` is that text:
   * part of the ETag, and what a worker evaluates again for a job sent to it.
   */
  script?: ScriptSession | undefined;
  scriptSource?: string | undefined;
  version: ChartJsMajor;
  width: number;
  height: number;
  devicePixelRatio: number;
  backgroundColor: string;
  format: OutputFormat;
  /** Set only when asked for: SVG text as glyph outlines. */
  svgText?: 'outlines' | undefined;
}

export interface RenderResult {
  body: Buffer;
  contentType: string;
}

/** QuickChart's defaults (docs/API.md lists where chartd differs). */
export const JOB_DEFAULTS = Object.freeze({
  width: 500, // CSS px
  height: 300, // CSS px
  devicePixelRatio: 2,
  backgroundColor: 'transparent',
  format: 'png' as OutputFormat,
});

/** A Map, not an object literal: `f=constructor` must not find Object's constructor. */
const FORMAT_ALIASES: ReadonlyMap<string, OutputFormat> = new Map([
  ['png', 'png'],
  ['webp', 'webp'],
  ['jpeg', 'jpeg'],
  ['jpg', 'jpeg'],
  ['svg', 'svg'],
  ['pdf', 'pdf'],
  ['base64', 'base64'],
]);

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  base64: 'text/plain; charset=utf-8',
};

export function resolveFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === '') return JOB_DEFAULTS.format;
  const format = FORMAT_ALIASES.get(String(value).toLowerCase());
  if (!format) {
    throw new ChartdError(
      'FORMAT_UNSUPPORTED',
      `format "${truncate(String(value))}" is not supported; use one of ${[...FORMAT_ALIASES.keys()].join(', ')}`,
    );
  }
  return format;
}

/** `svgText`: text (the default) or outlines. */
export function resolveSvgText(value: string | undefined): 'text' | 'outlines' {
  const text = value === undefined ? '' : String(value).trim().toLowerCase();
  if (text === '' || text === 'text') return 'text';
  if (text === 'outlines') return 'outlines';
  throw new ChartdError('PARAM_INVALID', `svgText must be "text" or "outlines", got "${truncate(String(value))}"`);
}

/** Parses a version parameter to a Chart.js major; undefined when absent. */
export function parseVersion(value: string | number | undefined): ChartJsMajor | undefined {
  if (value === undefined || value === '') return undefined;
  const text = String(value).trim().toLowerCase();
  if (text === 'latest') return 4;
  const match = /^v?([234])(?:\.[0-9x*]+){0,2}(?:-[0-9a-z.]+)?$/.exec(text);
  if (!match) {
    throw new ChartdError(
      'VERSION_UNSUPPORTED',
      `version "${truncate(text)}" is not supported; use 2, 3, 4 (any 2.x, 3.x or 4.x release string) or "latest"`,
    );
  }
  return Number(match[1]) as ChartJsMajor;
}

export function resolveDimension(
  field: 'width' | 'height',
  value: number | string | undefined,
  fallback: number,
  max: number,
): number {
  const number = parseNumberParam(field, value, fallback);
  if (!Number.isInteger(number) || number < 1) {
    // QuickChart accepts fractional sizes in query strings; canvases need whole pixels.
    const rounded = Math.round(number);
    if (rounded >= 1 && Number.isFinite(number)) return checkMax(field, rounded, max);
    throw new ChartdError('PARAM_INVALID', `${field} must be a positive number of pixels, got ${truncate(String(value))}`);
  }
  return checkMax(field, number, max);
}

function checkMax(field: string, value: number, max: number): number {
  if (value > max) throw new ChartdError('IMAGE_TOO_LARGE', `${field} ${value} is over the limit of ${max} pixels`);
  return value;
}

export function resolveDevicePixelRatio(value: number | string | undefined, limits: RenderLimits): number {
  const ratio = parseNumberParam('devicePixelRatio', value, JOB_DEFAULTS.devicePixelRatio);
  if (!(ratio > 0) || ratio > limits.maxDevicePixelRatio) {
    throw new ChartdError(
      'PARAM_INVALID',
      `devicePixelRatio must be greater than 0 and at most ${limits.maxDevicePixelRatio}, got ${truncate(String(value))}`,
    );
  }
  return ratio;
}

function parseNumberParam(field: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  // "500px" is how some clients write a size: the unit is CSS pixels anyway.
  const number = typeof value === 'number' ? value : Number(String(value).trim().replace(/px$/i, ''));
  if (!Number.isFinite(number)) {
    throw new ChartdError('PARAM_INVALID', `${field} must be a number, got ${truncate(String(value))}`);
  }
  return number;
}

/**
 * A CSS colour as Chart.js itself parses them (@kurkle/color: names, #hex, rgb(),
 * hsl(), hwb()), or `transparent`. Query strings lose the "#": bare hex such as
 * "fff" or "ff0000" is taken as QuickChart does. A value that is not a colour is
 * refused rather than silently drawn as none.
 */
export function resolveBackgroundColor(value: string | undefined): string {
  if (value === undefined || value === '') return JOB_DEFAULTS.backgroundColor;
  const text = String(value).trim();
  const color = /^([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/.test(text) ? `#${text}` : text;
  if (color.length > 64 || !isCssColor(color)) {
    throw new ChartdError('PARAM_INVALID', `backgroundColor "${truncate(text)}" is not a CSS colour (a name, #hex, rgb(), hsl() or hwb())`);
  }
  return color;
}

function isCssColor(text: string): boolean {
  if (text.toLowerCase() === 'transparent') return true;
  const parsed = new Color(text);
  // Its name table is a plain object: "constructor" parses as "valid" with no channels.
  const { r, g, b, a } = parsed.rgb ?? {};
  return parsed.valid && [r, g, b, a].every((channel) => typeof channel === 'number' && Number.isFinite(channel));
}

export function checkPixelBudget(width: number, height: number, ratio: number, limits: RenderLimits): void {
  const pixels = Math.ceil(width * ratio) * Math.ceil(height * ratio);
  if (pixels > limits.maxPixels) {
    throw new ChartdError(
      'IMAGE_TOO_LARGE',
      `width × height × devicePixelRatio² is ${pixels} pixels, over the limit of ${limits.maxPixels}`,
    );
  }
}

export function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

