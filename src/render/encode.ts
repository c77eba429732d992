import type { Canvas } from '@napi-rs/canvas';
import sharp, { type Sharp } from 'sharp';
import type { OutputFormat } from './job.js';
import { encodeRgbaPng } from './png-writer.js';

/** Lossy quality: charts are flat colour and thin lines, so keep them crisp. */
export const JPEG_QUALITY = 92;

/**
 * WebP is lossless when the chart has any transparency (Chart.js's default
 * background) and lossy at quality 90 when it is opaque. libwebp's lossy path
 * encodes an alpha plane with its lossless coder on top of the lossy image, so
 * lossy-with-alpha costs about twice lossless (47 against 25 ms for an 800x600
 * line chart) and blurs thin coloured lines for nothing; for an opaque chart lossy is
 * as fast as lossless and 30-60 % smaller. Lossless goes through Skia's encoder
 * (quality 100 selects it; exact pixels, an sRGB profile attached): it reads the
 * canvas itself, so it skips the un-premultiplied copy and libvips' pipeline,
 * ~4 ms a chart. Lossy goes through libvips at effort 0, 1.8x faster than Skia's
 * lossy encoder. Measurements: bench/RESULTS.md.
 */
export const WEBP_LOSSY_OPTIONS = Object.freeze({ quality: 90, effort: 0 });
const SKIA_WEBP_LOSSLESS = 100;

/**
 * libvips' PNG at zlib level 2 with no row filtering, chartd's encoder before
 * png-writer.ts: kept as a baseline for the benchmark. Adaptive filtering alone
 * costs 20-37 ms, so it stays off.
 */
const LIBVIPS_PNG_OPTIONS = Object.freeze({ compressionLevel: 2, adaptiveFiltering: false, palette: false });

// Workers are our parallelism: one libvips thread each, and no operation cache
// (sharp's cache keeps recent images in memory, which would look like a leak).
sharp.concurrency(1);
sharp.cache(false);

/**
 * Encodes a drawn raster canvas. The pixels are taken synchronously when this is
 * called, so the caller may reuse or clear the canvas before the promise settles.
 */
export function encodeRaster(canvas: Canvas, format: Exclude<OutputFormat, 'svg' | 'pdf'>): Promise<Buffer> {
  switch (format) {
    case 'jpeg':
      return canvas.encode('jpeg', JPEG_QUALITY);
    case 'webp':
      return encodeWebp(canvas);
    case 'png':
    case 'base64':
      return encodePng(canvas);
  }
}

/**
 * PNG and WebP read `getImageData`: it gives straight (un-premultiplied) RGBA,
 * which both formats store; `canvas.data()` is premultiplied and would darken
 * anti-aliased edges of a transparent chart. Skia draws lazily, so this read is
 * also where the chart is rasterised (~3 ms of an 800x600 line chart).
 */
export function encodePng(canvas: Canvas): Promise<Buffer> {
  return encodeRgbaPng(straightRgba(canvas), canvas.width, canvas.height);
}

function straightRgba(canvas: Canvas): Uint8ClampedArray {
  return canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
}

/** libvips' PNG encoder (chartd's before png-writer.ts): a baseline for the benchmark. */
export function encodePngWithLibvips(canvas: Canvas): Promise<Buffer> {
  return rawPixels(canvas).png(LIBVIPS_PNG_OPTIONS).toBuffer();
}

/** Skia's own WebP encoder (lossy, quality 90): the baseline the benchmark compares against. */
export function encodeWebpWithSkia(canvas: Canvas): Promise<Buffer> {
  return canvas.encode('webp', 90);
}

function encodeWebp(canvas: Canvas): Promise<Buffer> {
  // A transparent corner settles it without copying the image out.
  if (canvas.getContext('2d').getImageData(0, 0, 1, 1).data[3] !== 255) return canvas.encode('webp', SKIA_WEBP_LOSSLESS);
  const pixels = straightRgba(canvas);
  if (!isOpaque(pixels)) return canvas.encode('webp', SKIA_WEBP_LOSSLESS);
  return rawPixels(canvas, pixels).webp(WEBP_LOSSY_OPTIONS).toBuffer();
}

/**
 * Whether every pixel of straight RGBA has full alpha. A transparent chart
 * answers at its first corner pixel; an opaque 800x600 one costs a scan of
 * 0.5-1 ms, against the ~20 ms of its WebP encoding.
 */
export function isOpaque(rgba: Uint8Array | Uint8ClampedArray): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false;
  return true;
}

function rawPixels(canvas: Canvas, pixels = straightRgba(canvas)): Sharp {
  return sharp(pixels, { raw: { width: canvas.width, height: canvas.height, channels: 4 } });
}

/** Skia's own PNG encoder: the baseline the benchmark compares against. */
export function encodePngWithSkia(canvas: Canvas): Promise<Buffer> {
  return canvas.encode('png');
}

export function toDataUri(png: Buffer): Buffer {
  return Buffer.from(`data:image/png;base64,${png.toString('base64')}`, 'latin1');
}
