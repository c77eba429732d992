import { ChartdError } from '../errors.js';
import type { RenderRequest } from './job.js';

/**
 * QuickChart's request parameters, long and short forms (docs/API.md). Unknown
 * parameters are ignored, as QuickChart does: clients add their own (`ref`, `key`).
 * Only the fixed names below are read from `source`, so a request cannot steer a
 * lookup onto `constructor` or `__proto__`.
 */
export function toRenderRequest(source: Record<string, unknown>, sourceIfPlusIsSpace?: Record<string, unknown>): RenderRequest {
  const encoding = pick(source, 'encoding');
  let chart = pickRaw(source, 'c', 'chart');
  if (encoding !== undefined && encoding !== 'url' && encoding !== 'base64') {
    throw new ChartdError('PARAM_INVALID', `encoding must be "url" or "base64", got "${String(encoding).slice(0, 32)}"`);
  }
  if (encoding === 'base64' && typeof chart === 'string') chart = decodeBase64Config(chart);
  return {
    chart,
    width: pick(source, 'w', 'width'),
    height: pick(source, 'h', 'height'),
    devicePixelRatio: pick(source, 'devicePixelRatio'),
    backgroundColor: pick(source, 'backgroundColor', 'bkg'),
    format: pick(source, 'f', 'format'),
    svgText: pick(source, 'svgText'),
    version: pick(source, 'v', 'version'),
    chartIfPlusIsSpace: encoding === 'base64' || !sourceIfPlusIsSpace ? undefined : stringOrUndefined(pickRaw(sourceIfPlusIsSpace, 'c', 'chart')),
  };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function pickRaw(source: Record<string, unknown>, ...names: string[]): unknown {
  for (const name of names) {
    // eslint-disable-next-line no-restricted-syntax -- the one own-property lookup the rule points to
    const value = Object.hasOwn(source, name) ? source[name] : undefined;
    if (value !== undefined && value !== null && value !== '') return value;
  }
  return undefined;
}

/** A scalar parameter: numbers stay numbers (JSON bodies), everything else a string. */
function pick(source: Record<string, unknown>, ...names: string[]): string | undefined;
function pick(source: Record<string, unknown>, ...names: string[]): string | number | undefined {
  const value = pickRaw(source, ...names);
  if (value === undefined) return undefined;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  throw new ChartdError('PARAM_INVALID', `${names.at(-1)} must be a string or a number, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}

const BASE64 = /^[A-Za-z0-9+/_\-\s]*={0,2}\s*$/;

function decodeBase64Config(text: string): string {
  // '+' may have survived a query string as is, or been sent as a space.
  const cleaned = text.replace(/ /g, '+');
  if (!BASE64.test(cleaned)) throw new ChartdError('CONFIG_SYNTAX', 'chart is not valid base64 (encoding=base64)');
  return Buffer.from(cleaned, cleaned.includes('-') || cleaned.includes('_') ? 'base64url' : 'base64').toString('utf8');
}
