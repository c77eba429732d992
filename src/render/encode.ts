import type { Canvas } from '@napi-rs/canvas';
import sharp, { type Sharp } from 'sharp';
import type { OutputFormat } from './job.js';

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
 * PNG through libvips (sharp) at zlib level 2 with no row filtering: measured
 * 5-7.5x faster than Skia's encoder (level 6, adaptive filters) at 0.93-0.97x its
 * bytes on a 1000x600 chart (bench/RESULTS.md). Adaptive filtering alone costs
 * 20-37 ms, so it stays off.
 */
export const PNG_OPTIONS = Object.freeze({ compressionLevel: 2, adaptiveFiltering: false, palette: false });

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
 * anti-aliased edges of a transparent chart. Both cost ~0.5 ms for 1000x600.
 */
export function encodePng(canvas: Canvas): Promise<Buffer> {
  return rawPixels(canvas).png(PNG_OPTIONS).toBuffer();
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
