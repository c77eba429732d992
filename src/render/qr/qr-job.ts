import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';
import { parseNumberParam } from '../request-params.js';

export const QR_FORMATS = ['png', 'svg'] as const;
export type QrFormat = (typeof QR_FORMATS)[number];

export const QR_EC_LEVELS = ['L', 'M', 'Q', 'H'] as const;
export type QrEcLevel = (typeof QR_EC_LEVELS)[number];

/** A QR code to draw: plain data, resolved and bounded (it is also what the ETag hashes). */
export interface QrJob {
  text: string;
  format: QrFormat;
  /** Requested image width and height in pixels (qrcode draws at least 4 px a module). */
  size: number;
  /** Quiet zone, in modules. */
  margin: number;
  /** Undefined: qrcode's default, M (QuickChart's /qr); Google's cht=qr defaults to L. */
  ecLevel: QrEcLevel | undefined;
  /** #rrggbbaa */
  dark: string;
  light: string;
  /** The whole text as one kanji-mode segment (QuickChart's mode=sjis). */
  sjis: boolean;
}

/** QuickChart's defaults for GET /qr. */
export const QR_DEFAULTS = Object.freeze({ size: 150, margin: 4, dark: '#000000ff', light: '#ffffffff' });
/** QuickChart draws larger sizes at this one; so does chartd. */
export const QR_MAX_SIZE = 3000;
/** A quiet zone wider than this is not a QR code anyone asked for, and it multiplies the image size. */
export const QR_MAX_MARGIN = 100;
/** The most any QR code holds (version 40, numeric mode, level L): longer text cannot fit. */
export const QR_MAX_TEXT_LENGTH = 7089;

export interface QrParams {
  text?: string | undefined;
  format?: string | undefined;
  size?: string | undefined;
  margin?: string | undefined;
  ecLevel?: string | undefined;
  dark?: string | undefined;
  light?: string | undefined;
  mode?: string | undefined;
}

/** GET /qr's parameters (QuickChart's names and defaults) to a QrJob; a ChartdError names a bad one. */
export function resolveQrJob(params: QrParams): QrJob {
  const text = params.text ?? '';
  if (text === '') throw new ChartdError('QR_TEXT_MISSING', 'text is required: the content of the QR code, e.g. /qr?text=https://example.com');
  if (text.length > QR_MAX_TEXT_LENGTH) {
    throw new ChartdError('QR_TEXT_TOO_LONG', `text is ${text.length} characters; a QR code holds at most ${QR_MAX_TEXT_LENGTH} digits, or 2953 bytes of text`);
  }
  return {
    text,
    format: resolveQrFormat(params.format),
    size: resolveQrSize(params.size),
    margin: resolveMargin(params.margin),
    ecLevel: resolveEcLevel(params.ecLevel),
    dark: resolveHexColor('dark', params.dark, QR_DEFAULTS.dark),
    light: resolveHexColor('light', params.light, QR_DEFAULTS.light),
    sjis: resolveMode(params.mode),
  };
}

export function resolveQrFormat(value: string | undefined): QrFormat {
  const format = (value ?? 'png').toLowerCase() || 'png';
  if (format !== 'png' && format !== 'svg') {
    throw new ChartdError('FORMAT_UNSUPPORTED', `format must be png or svg for a QR code, got "${truncate(format, 32)}"`);
  }
  return format;
}

/**
 * QuickChart's rule: a size above 3000 is drawn at 3000. The size is written as width and
 * height are (parseNumberParam: plain decimal, optional `px`), fractions rounded; below 1 is refused.
 */
export function resolveQrSize(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return QR_DEFAULTS.size;
  const size = parseNumberParam('size', value, QR_DEFAULTS.size, 'px');
  if (!(size >= 1)) throw new ChartdError('PARAM_INVALID', `size must be at least 1 pixel, got "${truncate(value, 32)}"`);
  return Math.min(Math.round(size), QR_MAX_SIZE);
}

export function resolveMargin(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return QR_DEFAULTS.margin;
  const text = value.trim();
  const margin = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(margin) || margin < 0 || margin > QR_MAX_MARGIN) {
    throw new ChartdError('PARAM_INVALID', `margin must be a whole number of modules from 0 to ${QR_MAX_MARGIN} (plain decimal digits), got "${truncate(value, 32)}"`);
  }
  return margin;
}

const EC_LEVEL_NAMES: ReadonlyMap<string, QrEcLevel> = new Map([
  ['l', 'L'],
  ['low', 'L'],
  ['m', 'M'],
  ['medium', 'M'],
  ['q', 'Q'],
  ['quartile', 'Q'],
  ['h', 'H'],
  ['high', 'H'],
]);

export function resolveEcLevel(value: string | undefined): QrEcLevel | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const level = EC_LEVEL_NAMES.get(value.trim().toLowerCase());
  if (!level) throw new ChartdError('PARAM_INVALID', `ecLevel must be L, M, Q or H, got "${truncate(value, 32)}"`);
  return level;
}

/**
 * qrcode's colours: hex with or without '#', 3, 4, 6 or 8 digits (the last two
 * are alpha), as QuickChart passes them through; `transparent` is "#0000".
 */
export function resolveHexColor(field: string, value: string | undefined, fallback: string): string {
  if (value === undefined || value.trim() === '') return fallback;
  const text = value.trim();
  if (text.toLowerCase() === 'transparent') return '#00000000';
  const match = /^#?([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(text);
  if (!match) {
    throw new ChartdError('PARAM_INVALID', `${field} must be a hex colour such as 000000, #ff0000 or ffffff00 (alpha last), or transparent; got "${truncate(text, 32)}"`);
  }
  const digits = match[1]!.toLowerCase();
  const long = digits.length <= 4 ? [...digits].map((digit) => digit + digit).join('') : digits;
  return `#${long.length === 6 ? `${long}ff` : long}`;
}

function resolveMode(value: string | undefined): boolean {
  if (value === undefined || value === '') return false;
  if (value.toLowerCase() === 'sjis') return true;
  throw new ChartdError('PARAM_INVALID', `mode must be sjis (Shift JIS kanji mode) or absent, got "${truncate(value, 32)}"`);
}
