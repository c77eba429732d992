import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import type QRCodeModule from 'qrcode';
import sharp from 'sharp';
import { ChartdError } from '../../errors.js';
import type { RenderResult } from '../job.js';
import type { QrJob } from './qr-job.js';

type QRCode = typeof QRCodeModule;
type QRCodeSymbol = ReturnType<QRCode['create']>;

const require = createRequire(import.meta.url);
const qrcode = require('qrcode') as QRCode;

/**
 * With row filters: QR codes repeat each row `scale` times, which the "up" filter
 * turns to zeros, so the PNG is 4x smaller than without (at half the speed; still
 * 3-4x faster than qrcode's own renderer, bench/RESULTS.md, "QR codes").
 */
const QR_PNG_OPTIONS = Object.freeze({ compressionLevel: 6, adaptiveFiltering: true, palette: false });

export interface QrRenderResult extends RenderResult {
  /** Pixels a side, as drawn (at least 4 a module, so it can exceed the size asked for). */
  width: number;
  timings: { drawMs: number; encodeMs: number };
}

/**
 * Draws a QR code. The symbol comes from `qrcode` (QuickChart's encoder); SVG is
 * its own renderer (QuickChart's bytes), PNG is drawn one pixel a module and scaled
 * up by libvips with nearest-neighbour sampling: the same pixels qrcode's PNG
 * renderer sets, 2-4x faster from 600 px up (bench/RESULTS.md, "QR codes").
 */
export async function renderQr(job: QrJob): Promise<QrRenderResult> {
  const started = performance.now();
  const encoder = job.sjis ? kanjiEncoder() : qrcode;
  const data = job.sjis ? [{ data: job.text, mode: 'kanji' as const }] : job.text;
  const options = { errorCorrectionLevel: job.ecLevel, margin: job.margin, width: job.size, color: { dark: job.dark, light: job.light } };
  let symbol: QRCodeSymbol;
  try {
    symbol = encoder.create(data, { errorCorrectionLevel: job.ecLevel });
  } catch (error) {
    throw toQrError(error, job);
  }
  const total = symbol.modules.size + job.margin * 2;
  const scale = job.size >= total ? job.size / total : 4;
  const width = Math.floor(total * scale);
  if (job.format === 'svg') {
    const svg = await encoder.toString(data, { ...options, type: 'svg' });
    return { body: Buffer.from(svg, 'utf8'), contentType: 'image/svg+xml', width, timings: { drawMs: performance.now() - started, encodeMs: 0 } };
  }
  const channels = isOpaqueGrey(job.dark) && isOpaqueGrey(job.light) ? 1 : 4;
  const modules = drawModules(symbol, job, channels);
  const drawn = performance.now();
  const body = await sharp(modules, { raw: { width: total, height: total, channels } })
    .resize(width, width, { kernel: 'nearest' })
    .png(QR_PNG_OPTIONS)
    .toBuffer();
  return { body, contentType: 'image/png', width, timings: { drawMs: drawn - started, encodeMs: performance.now() - drawn } };
}

/**
 * The symbol with its quiet zone, one pixel a module: greyscale when both colours
 * are opaque greys (black on white: a quarter of the bytes to encode), else RGBA.
 */
function drawModules(symbol: QRCodeSymbol, job: QrJob, channels: 1 | 4): Buffer {
  const { size, data } = symbol.modules;
  const total = size + job.margin * 2;
  const dark = rgba(job.dark).slice(0, channels);
  const light = rgba(job.light).slice(0, channels);
  const pixels = Buffer.alloc(total * total * channels);
  for (let y = 0; y < total; y++) {
    for (let x = 0; x < total; x++) {
      const row = y - job.margin;
      const column = x - job.margin;
      const isDark = row >= 0 && column >= 0 && row < size && column < size && data[row * size + column] === 1;
      pixels.set(isDark ? dark : light, (y * total + x) * channels);
    }
  }
  return pixels;
}

function isOpaqueGrey(hex: string): boolean {
  const [r, g, b, a] = rgba(hex);
  return r === g && g === b && a === 255;
}

/** "#rrggbbaa" (resolveHexColor's form) to its four bytes. */
function rgba(hex: string): number[] {
  return [1, 3, 5, 7].map((at) => Number.parseInt(hex.slice(at, at + 2), 16));
}

function toQrError(error: unknown, job: QrJob): ChartdError {
  const message = error instanceof Error ? error.message : String(error);
  if (/too big/i.test(message)) {
    return new ChartdError('QR_TEXT_TOO_LONG', `text is too long for a QR code at error correction level ${job.ecLevel ?? 'M'} (${job.text.length} characters)`);
  }
  if (job.sjis && /SJIS|kanji|Invalid data/i.test(message)) {
    return new ChartdError('PARAM_INVALID', 'with mode=sjis, every character of text must be a Shift JIS double-byte character (kanji, kana, full-width forms)');
  }
  return new ChartdError('PARAM_INVALID', `text cannot be encoded as a QR code: ${message.slice(0, 200)}`);
}

let kanjiQrcode: QRCode | undefined;

/**
 * qrcode keeps its Shift JIS converter in module state, and once one is set every
 * later code in that process may switch runs of Japanese text to kanji mode. So
 * mode=sjis gets a separate instance of the package: the output of every other
 * request stays the same whatever ran before it (its ETag depends on that).
 */
function kanjiEncoder(): QRCode {
  if (kanjiQrcode) return kanjiQrcode;
  const root = dirname(require.resolve('qrcode/package.json')) + sep;
  const shared = Object.keys(require.cache).filter((path) => path.startsWith(root));
  const saved = shared.map((path) => [path, require.cache[path]] as const);
  for (const [path] of saved) delete require.cache[path];
  try {
    const instance = require('qrcode') as QRCode;
    const toSJIS = require('qrcode/helper/to-sjis') as (text: string) => number;
    // create() installs the converter on this instance only.
    instance.create('。', { toSJISFunc: toSJIS });
    kanjiQrcode = instance;
    return instance;
  } finally {
    for (const path of Object.keys(require.cache)) if (path.startsWith(root)) delete require.cache[path];
    for (const [path, module] of saved) require.cache[path] = module;
  }
}
