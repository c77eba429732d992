import type { Canvas } from '@napi-rs/canvas';
import sharp, { type Sharp } from 'sharp';
import type { OutputFormat } from './job.js';
import { encodeRgbaPng } from './png-writer.js';

/** Lossy quality: charts are flat colour and thin lines, so keep them crisp. */
export const JPEG_QUALITY = 92;

/**
 * WebP through libvips, lossy at quality 90 and the fastest effort: measured
 * 1.4-2x faster than Skia's encoder at the same quality, and 25-40 % smaller than
 * chartd's PNG. Lossless at effort 0 barely compresses (72 KB for a bar chart
 * whose PNG is 26 KB) and effort 1 costs twice the time (bench/RESULTS.md).
 */
export const WEBP_OPTIONS = Object.freeze({ quality: 90, effort: 0 });

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
      return rawPixels(canvas).webp(WEBP_OPTIONS).toBuffer();
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
  const { width, height } = canvas;
  return encodeRgbaPng(canvas.getContext('2d').getImageData(0, 0, width, height).data, width, height);
}

/** libvips' PNG encoder (chartd's before png-writer.ts): a baseline for the benchmark. */
export function encodePngWithLibvips(canvas: Canvas): Promise<Buffer> {
  return rawPixels(canvas).png(LIBVIPS_PNG_OPTIONS).toBuffer();
}

/** Skia's own WebP encoder (lossy, quality 90): the baseline the benchmark compares against. */
export function encodeWebpWithSkia(canvas: Canvas): Promise<Buffer> {
  return canvas.encode('webp', 90);
}

function rawPixels(canvas: Canvas): Sharp {
  const { width, height } = canvas;
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  return sharp(pixels, { raw: { width, height, channels: 4 } });
}

/** Skia's own PNG encoder: the baseline the benchmark compares against. */
export function encodePngWithSkia(canvas: Canvas): Promise<Buffer> {
  return canvas.encode('png');
}

export function toDataUri(png: Buffer): Buffer {
  return Buffer.from(`data:image/png;base64,${png.toString('base64')}`, 'latin1');
}
