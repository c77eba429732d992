import type { Canvas } from '@napi-rs/canvas';
import type { OutputFormat } from './job.js';

/** Lossy qualities: charts are flat colour and thin lines, so keep them crisp. */
export const JPEG_QUALITY = 92;
export const WEBP_QUALITY = 90;

/**
 * Encodes a drawn raster canvas. The pixels are snapshotted synchronously when
 * this is called, so the caller may reuse the canvas before the promise settles.
 */
export function encodeRaster(canvas: Canvas, format: Exclude<OutputFormat, 'svg' | 'pdf'>): Promise<Buffer> {
  switch (format) {
    case 'jpeg':
      return canvas.encode('jpeg', JPEG_QUALITY);
    case 'webp':
      return canvas.encode('webp', WEBP_QUALITY);
    case 'png':
    case 'base64':
      return canvas.encode('png');
  }
}

export function toDataUri(png: Buffer): Buffer {
  return Buffer.from(`data:image/png;base64,${png.toString('base64')}`, 'latin1');
}
