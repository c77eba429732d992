import { createRequire } from 'node:module';
import type { QRCode } from 'jsqr';
import sharp from 'sharp';

// jsqr is CommonJS with module.exports = the decoder; its typings describe an ES default export.
const jsQR = createRequire(import.meta.url)('jsqr') as (data: Uint8ClampedArray, width: number, height: number) => QRCode | null;

/**
 * Reads a QR code out of image bytes (PNG, or SVG rasterized by librsvg) with
 * jsQR, a decoder that shares no code with the encoder chartd uses.
 */
export async function decodeQr(bytes: Buffer, { background = '#ffffff' } = {}): Promise<QRCode | null> {
  // Flattened onto white: jsQR reads luminance and would see transparent light modules as black.
  const { data, info } = await sharp(bytes).flatten({ background }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return jsQR(new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength), info.width, info.height);
}
