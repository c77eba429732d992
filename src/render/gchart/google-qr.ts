import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';
import { QR_DEFAULTS, QR_MAX_SIZE, QR_MAX_TEXT_LENGTH, resolveEcLevel, resolveMargin, type QrJob } from '../qr/qr-job.js';
import { parseChartSize } from './to-chartjs.js';

/**
 * Google's `cht=qr`: `chl` the text, `chs` the size (its width), `chld=<ec level>|<margin>`
 * (L and 4 by default), `choe` the encoding (UTF-8; Shift_JIS for kanji mode).
 * URLs written for Google's retired endpoint work unchanged.
 */
export function qrJobFromGoogle(params: Record<string, string | undefined>): QrJob {
  const text = params.chl ?? '';
  if (text === '') throw new ChartdError('QR_TEXT_MISSING', 'chl is required with cht=qr: the content of the QR code');
  if (text.length > QR_MAX_TEXT_LENGTH) {
    throw new ChartdError('QR_TEXT_TOO_LONG', `chl is ${text.length} characters; a QR code holds at most ${QR_MAX_TEXT_LENGTH} digits, or 2953 bytes of text`);
  }
  const { width } = parseChartSize(params.chs, { width: QR_DEFAULTS.size, height: QR_DEFAULTS.size });
  if (width < 1) throw new ChartdError('PARAM_INVALID', 'chs must be at least 1x1');
  const [ecLevel, margin] = (params.chld ?? '').split('|');
  return {
    text,
    format: 'png',
    size: Math.min(width, QR_MAX_SIZE),
    margin: resolveMargin(margin),
    ecLevel: resolveEcLevel(ecLevel) ?? 'L',
    dark: QR_DEFAULTS.dark,
    light: QR_DEFAULTS.light,
    sjis: resolveEncoding(params.choe),
  };
}

function resolveEncoding(choe: string | undefined): boolean {
  const encoding = (choe ?? '').trim().toLowerCase().replace(/[-_]/g, '');
  if (encoding === '' || encoding === 'utf8' || encoding === 'iso88591') return false;
  if (encoding === 'shiftjis' || encoding === 'sjis') return true;
  throw new ChartdError('PARAM_INVALID', `choe must be UTF-8, Shift_JIS or ISO-8859-1, got "${truncate(choe ?? '', 16)}"`);
}
