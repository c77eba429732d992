import sharp from 'sharp';

/**
 * Image checks with an independent decoder (libvips through sharp), never the
 * canvas library that produced the bytes.
 */
export interface DecodedImage {
  width: number;
  height: number;
  format: string;
  /** Straight RGBA, 4 bytes a pixel. */
  pixels: Buffer;
}

export async function decodeImage(bytes: Buffer | string): Promise<DecodedImage> {
  const input = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  const metadata = await sharp(input).metadata();
  const { data, info } = await sharp(input).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, format: metadata.format ?? 'unknown', pixels: data };
}

/** Pixels that are not (near) transparent and not (near) the background colour. */
export function countDrawnPixels(image: DecodedImage, background: [number, number, number] | 'transparent' = 'transparent'): number {
  let drawn = 0;
  const { pixels } = image;
  for (let i = 0; i < pixels.length; i += 4) {
    const alpha = pixels[i + 3]!;
    if (background === 'transparent') {
      if (alpha > 16) drawn++;
    } else if (alpha > 16 && colourDistance(pixels, i, background) > 24) {
      drawn++;
    }
  }
  return drawn;
}

/** Pixels within `tolerance` of an RGB colour (opaque enough to count). */
export function countColourPixels(image: DecodedImage, rgb: [number, number, number], tolerance = 40): number {
  let count = 0;
  const { pixels } = image;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i + 3]! > 128 && colourDistance(pixels, i, rgb) <= tolerance) count++;
  }
  return count;
}

export function pixelAt(image: DecodedImage, x: number, y: number): [number, number, number, number] {
  const i = (y * image.width + x) * 4;
  const p = image.pixels;
  return [p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!];
}

/** Fraction of pixels that differ between two images of the same size. */
export function differingFraction(a: DecodedImage, b: DecodedImage): number {
  if (a.width !== b.width || a.height !== b.height) return 1;
  let differing = 0;
  for (let i = 0; i < a.pixels.length; i += 4) {
    if (
      Math.abs(a.pixels[i]! - b.pixels[i]!) > 16 ||
      Math.abs(a.pixels[i + 1]! - b.pixels[i + 1]!) > 16 ||
      Math.abs(a.pixels[i + 2]! - b.pixels[i + 2]!) > 16 ||
      Math.abs(a.pixels[i + 3]! - b.pixels[i + 3]!) > 16
    ) {
      differing++;
    }
  }
  return differing / (a.width * a.height);
}

function colourDistance(pixels: Buffer, i: number, rgb: [number, number, number]): number {
  return Math.max(Math.abs(pixels[i]! - rgb[0]), Math.abs(pixels[i + 1]! - rgb[1]), Math.abs(pixels[i + 2]! - rgb[2]));
}

/** Inflated content streams of a PDF, to check it holds vector drawing operators. */
export async function pdfContentStreams(pdf: Buffer): Promise<string[]> {
  const { inflateSync } = await import('node:zlib');
  const text = pdf.toString('latin1');
  const streams: string[] = [];
  const pattern = /(?<!end)stream\r?\n/g;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text))) {
    const start = match.index + match[0].length;
    const end = text.indexOf('endstream', start);
    if (end === -1) break;
    const raw = pdf.subarray(start, end);
    try {
      streams.push(inflateSync(raw).toString('latin1'));
    } catch {
      streams.push(raw.toString('latin1'));
    }
    pattern.lastIndex = end;
  }
  return streams;
}
