import { Color } from '@kurkle/color';
import { ChartdError } from '../errors.js';
import { truncate } from '../values.js';
import { JOB_DEFAULTS, type ChartJsMajor, type OutputFormat } from './job.js';
import type { RenderLimits } from './limits.js';

/** Request parameters (format, version, size, pixel ratio, background) resolved to a job's values, or refused with a coded error. */

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
  const number = parseNumberParam(field, value, fallback, 'px');
  if (!(number >= 1)) {
    throw new ChartdError('PARAM_INVALID', `${field} must be at least 1 pixel, got ${truncate(String(value))}`);
  }
  // QuickChart accepts fractional sizes in query strings; canvases need whole pixels.
  return checkMax(field, Math.round(number), max);
}

function checkMax(field: string, value: number, max: number): number {
  if (value > max) throw new ChartdError('IMAGE_TOO_LARGE', `${field} ${value} is over the limit of ${max} pixels`);
  return value;
}

export function resolveDevicePixelRatio(value: number | string | undefined, limits: RenderLimits): number {
  const ratio = parseNumberParam('devicePixelRatio', value, JOB_DEFAULTS.devicePixelRatio, '');
  if (!(ratio > 0) || ratio > limits.maxDevicePixelRatio) {
    throw new ChartdError(
      'PARAM_INVALID',
      `devicePixelRatio must be greater than 0 and at most ${limits.maxDevicePixelRatio}, got ${truncate(String(value))}`,
    );
  }
  return ratio;
}

/**
 * A number as a request writes it: plain decimal (`500`, `499.5`, `.5`), whitespace around it
 * ignored, and for sizes an optional `px` ("500px": the unit is CSS pixels anyway). No sign,
 * exponent, hex, octal, binary or `Infinity`: `w=0x10` is not 16. A JSON body's numbers are
 * numbers already, and taken as they are when finite.
 */
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

export function parseNumberParam(field: string, value: number | string | undefined, fallback: number, unit: 'px' | ''): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ChartdError('PARAM_INVALID', `${field} must be a finite number, got ${String(value)}`);
    return value;
  }
  const text = String(value).trim();
  const digits = unit === 'px' ? text.replace(/px$/i, '') : text;
  if (!DECIMAL.test(digits)) {
    throw new ChartdError(
      'PARAM_INVALID',
      `${field} must be a plain decimal number${unit === 'px' ? ' of pixels (e.g. 500 or 500px)' : ' (e.g. 2 or 1.5)'}, got "${truncate(String(value))}"`,
    );
  }
  return Number(digits);
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
  // A canvas is a whole number of device pixels: below 1 × 1 there is nothing to draw (and Skia refuses).
  if (Math.floor(width * ratio) < 1 || Math.floor(height * ratio) < 1) {
    throw new ChartdError(
      'PARAM_INVALID',
      `${width} × ${height} at devicePixelRatio ${ratio} is under 1 × 1 device pixel: width × devicePixelRatio and height × devicePixelRatio must each be at least 1`,
    );
  }
  const pixels = Math.ceil(width * ratio) * Math.ceil(height * ratio);
  if (pixels > limits.maxPixels) {
    throw new ChartdError(
      'IMAGE_TOO_LARGE',
      `width × height × devicePixelRatio² is ${pixels} pixels, over the limit of ${limits.maxPixels}`,
    );
  }
}
