import { createCanvas } from '@napi-rs/canvas';
import { DEFAULT_FONT_FAMILY, registerBundledFonts } from './fonts.js';

const MAX_SIDE = 1_000; // px: an error picture needs no more

/**
 * Draws an error as a PNG, so a broken `<img src=".../chart?...">` embed says
 * what is wrong (QuickChart does the same). Runs in the main thread: it is small,
 * bounded, and must work when every worker is busy.
 */
export async function drawErrorImage(title: string, message: string, width: number, height: number): Promise<Buffer> {
  registerBundledFonts();
  const w = clamp(width, 200, MAX_SIDE);
  const h = clamp(height, 100, MAX_SIDE);
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = '#b00020';
  ctx.font = `bold 16px ${DEFAULT_FONT_FAMILY}`;
  ctx.fillText(`Chart error: ${title}`, 12, 28, w - 24);
  ctx.fillStyle = '#222222';
  ctx.font = `13px ${DEFAULT_FONT_FAMILY}`;
  let y = 52;
  for (const line of wrap(ctx, message, w - 24)) {
    if (y > h - 8) break;
    ctx.fillText(line, 12, y);
    y += 18;
  }
  return canvas.encode('png');
}

function wrap(ctx: { measureText(text: string): { width: number } }, text: string, maxWidth: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    const candidate = line ? `${line} ${word}` : word;
    if (ctx.measureText(candidate).width <= maxWidth || !line) line = candidate;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function clamp(value: number, min: number, max: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, Math.round(value))) : min;
}
