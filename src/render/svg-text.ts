import { createCanvas, SvgExportFlag, type SKRSContext2D } from '@napi-rs/canvas';

/**
 * Canvas text on an SVG surface, written as SVG `<text>` with the string the chart
 * drew. Skia's SVG device has two ways to write text and neither serves a chart:
 * glyphs as paths (4x the bytes, and no text to select or index), or `<text>`
 * rebuilt from glyph ids, which drops spaces (every word its own element), writes
 * ligatures and Arabic presentation forms in visual order, maps CJK ideographs to
 * Kangxi radicals, and lists per-glyph positions with a trailing comma that
 * librsvg and browsers reject (the text lands at 0,0).
 *
 * So `fillText` and `strokeText` are taken over: each text becomes an element
 * (a `<text>` with the string, font, colour, anchor and transform; or, for
 * scripts a viewer may lack fonts for, the glyph outlines Skia draws), and in its
 * place the context draws a marker rectangle covering the text's box, filled with
 * a colour that numbers it. Skia keeps the marker in drawing order and inside the
 * clip group the text would have been in (and drops it where all of the text
 * would have been clipped away); `finish` swaps each marker for its element.
 */

type TextContext = SKRSContext2D;

/** Markers are numbered in their fill colour, #FD0000 to #FDFFFF. */
const MARKER_PREFIX = 'FD';
const MAX_MARKERS = 0x10000;
const MARKER_PATTERN = /<rect fill="#FD([0-9A-F]{4})"[^>]*\/>/g;
const DOCUMENT_BODY = /<svg[^>]*>([\s\S]*)<\/svg>\s*$/;

/**
 * Scripts that every viewer's default sans-serif draws (Latin, Greek, Cyrillic,
 * punctuation, currency): text made only of these is written as `<text>`. Other
 * text (CJK, Arabic, emoji, symbols) is written as glyph outlines, so it shows the
 * same without the bundled fonts, and bidirectional and shaped scripts come out
 * as drawn.
 */
const COMMON_TEXT = /^[\t\u0020-\u007E\u00A0-\u024F\u0370-\u03FF\u0400-\u04FF\u2000-\u206F\u20A0-\u20CF\u2100-\u214F]*$/;

/** Context state that decides how text is drawn, copied to the canvas that outlines it. */
const TEXT_STATE = ['font', 'textAlign', 'textBaseline', 'direction', 'fillStyle', 'strokeStyle', 'lineWidth', 'lineJoin', 'miterLimit', 'globalAlpha', 'letterSpacing', 'wordSpacing'] as const;

const ANCHORS: ReadonlyMap<string, string> = new Map([
  ['center', 'middle'],
  ['right', 'end'],
  ['end', 'end'],
]);

// eslint-disable-next-line no-control-regex -- these are the characters to remove
const INVALID_XML_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const GENERIC_FAMILIES = new Set(['serif', 'sans-serif', 'monospace', 'cursive', 'fantasy', 'system-ui']);

export interface SvgTextOptions {
  /** Write every text as glyph outlines: exact rendering, no fonts needed to view, no selectable text. */
  outlines?: boolean;
}

export class SvgTextWriter {
  readonly #elements: string[] = [];
  /** A chart sets a handful of fonts for hundreds of texts. */
  readonly #fonts = new Map<string, string>();
  readonly #outlines: boolean;
  readonly #width: number;
  readonly #height: number;

  constructor(size: { width: number; height: number }, options: SvgTextOptions = {}) {
    this.#width = size.width;
    this.#height = size.height;
    this.#outlines = options.outlines ?? false;
  }

  /** Takes over `fillText` and `strokeText` on an SVG canvas context. */
  install(ctx: TextContext): void {
    for (const mode of ['fill', 'stroke'] as const) {
      const method = mode === 'fill' ? 'fillText' : 'strokeText';
      const skia = ctx[method].bind(ctx);
      Object.defineProperty(ctx, method, {
        configurable: true,
        writable: true,
        value: (text: unknown, x: number, y: number, maxWidth?: number) => {
          const string = String(text);
          if (!this.#write(ctx, mode, string, x, y, maxWidth)) skia(string, x, y, maxWidth);
        },
      });
    }
  }

  /** The document with every marker replaced by its text. */
  finish(svg: string): string {
    return compact(svg).replace(MARKER_PATTERN, (marker, id: string) => this.#elements[Number.parseInt(id, 16)] ?? marker);
  }

  /** False when the text is for Skia to draw: too many texts to number. */
  #write(ctx: TextContext, mode: 'fill' | 'stroke', text: string, x: number, y: number, maxWidth: number | undefined): boolean {
    if (this.#elements.length >= MAX_MARKERS) return false;
    if (![x, y].every(Number.isFinite) || text.trim() === '' || ctx.globalAlpha === 0) return true; // nothing to see
    const metrics = ctx.measureText(text);
    const squeeze = maxWidth !== undefined && maxWidth >= 0 && metrics.width > maxWidth ? maxWidth / metrics.width : 1;
    const style = mode === 'fill' ? ctx.fillStyle : ctx.strokeStyle;
    const asText = mode === 'fill' && !this.#outlines && typeof style === 'string' && COMMON_TEXT.test(text);
    const element = asText
      ? textElement(ctx, this.#fontOf(ctx.font), text, x, y, metrics.alphabeticBaseline, style, squeeze < 1 ? maxWidth : undefined)
      : this.#outlineElements(ctx, mode, text, x, y, maxWidth);
    if (element === '') return true;
    const id = this.#elements.length;
    this.#elements.push(element);
    // The marker covers the text's box (and a stroke's width), so Skia drops it only where all of the text is clipped away.
    const pad = mode === 'stroke' ? ctx.lineWidth : 0;
    const left = x - metrics.actualBoundingBoxLeft * squeeze - pad;
    const top = y - metrics.actualBoundingBoxAscent - pad;
    const width = Math.max(0.5, (metrics.actualBoundingBoxLeft + metrics.actualBoundingBoxRight) * squeeze + 2 * pad);
    const height = Math.max(0.5, metrics.actualBoundingBoxAscent + metrics.actualBoundingBoxDescent + 2 * pad);
    // save/restore: two native calls where reading and writing back three properties took six.
    ctx.save();
    ctx.fillStyle = `#${MARKER_PREFIX}${id.toString(16).toUpperCase().padStart(4, '0')}`;
    ctx.globalAlpha = 1;
    ctx.shadowColor = 'rgba(0, 0, 0, 0)';
    ctx.fillRect(left, top, width, height);
    ctx.restore();
    return true;
  }

  #fontOf(font: string): string {
    let attributes = this.#fonts.get(font);
    if (attributes === undefined) {
      attributes = fontAttributes(font).join(' ');
      this.#fonts.set(font, attributes);
    }
    return attributes;
  }

  /** The text as Skia outlines it: drawn alone on a text-to-paths SVG canvas of the same size, in the same state. */
  #outlineElements(ctx: TextContext, mode: 'fill' | 'stroke', text: string, x: number, y: number, maxWidth: number | undefined): string {
    const canvas = createCanvas(this.#width, this.#height, SvgExportFlag.ConvertTextToPaths);
    const outline = canvas.getContext('2d');
    const to = outline as unknown as Record<string, unknown>;
    const from = ctx as unknown as Record<string, unknown>;
    for (const key of TEXT_STATE) if (from[key] !== undefined) to[key] = from[key];
    outline.setTransform(ctx.getTransform());
    if (mode === 'fill') outline.fillText(text, x, y, maxWidth);
    else outline.strokeText(text, x, y, maxWidth);
    return DOCUMENT_BODY.exec(compact(canvas.getContent().toString('utf8')))?.[1] ?? '';
  }
}

function textElement(ctx: TextContext, font: string, text: string, x: number, y: number, alphabeticBaseline: number, style: string, textLength: number | undefined): string {
  const colour = svgColour(style, ctx.globalAlpha);
  if (colour.opacity === 0) return '';
  const attributes = [
    `x="${num(x)}"`,
    // SVG places text on its alphabetic baseline; the canvas on textBaseline.
    `y="${num(y - alphabeticBaseline)}"`,
    transformAttribute(ctx.getTransform()),
    font,
    `fill="${colour.hex}"`,
    colour.opacity < 1 ? `fill-opacity="${num(colour.opacity)}"` : '',
    ANCHORS.has(ctx.textAlign) ? `text-anchor="${ANCHORS.get(ctx.textAlign)}"` : '',
    textLength === undefined ? '' : `textLength="${num(textLength)}" lengthAdjust="spacingAndGlyphs"`,
  ];
  return `<text ${attributes.filter(Boolean).join(' ')}>${escapeXml(text)}</text>`;
}

/** Skia pretty-prints with a newline and tabs per element: a fifth of the bytes. */
function compact(svg: string): string {
  return svg.replace(/>\s+</g, '><');
}

/** Skia's context reads colours back as `#rrggbb` or `rgba(r, g, b, a)`. */
export function svgColour(style: string, globalAlpha: number): { hex: string; opacity: number } {
  const rgba = /^rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*([\d.]+))?\)$/.exec(style);
  if (!rgba) return { hex: style, opacity: globalAlpha };
  const hex = `#${[rgba[1], rgba[2], rgba[3]].map((part) => Number(part).toString(16).padStart(2, '0')).join('')}`;
  return { hex, opacity: (rgba[4] === undefined ? 1 : Number(rgba[4])) * globalAlpha };
}

/**
 * The CSS `font` shorthand as SVG attributes. The families keep the order the
 * chart asked for, with generic families (`sans-serif`) moved last: a viewer
 * always has them, so any family after one would never be tried.
 */
export function fontAttributes(font: string): string[] {
  const match = /^(.*?)(\d*\.?\d+)px(?:\/\S+)?\s+(.+)$/.exec(font.trim());
  if (!match) return [];
  const [, prefix = '', size = '', familyList = ''] = match;
  const families = familyList.split(',').map((family) => family.trim().replace(/"/g, "'")).filter(Boolean);
  const named = families.filter((family) => !GENERIC_FAMILIES.has(family));
  const generic = families.filter((family) => GENERIC_FAMILIES.has(family));
  const attributes = [`font-family="${escapeXml([...named, ...(generic.length ? generic : ['sans-serif'])].join(', '))}"`, `font-size="${num(Number(size))}"`];
  for (const word of prefix.trim().split(/\s+/)) {
    if (word === 'italic' || word === 'oblique') attributes.push(`font-style="${word}"`);
    else if (word === 'bold' || word === 'bolder' || word === 'lighter' || /^[1-9]00$/.test(word)) attributes.push(`font-weight="${word}"`);
    else if (word === 'small-caps') attributes.push('font-variant="small-caps"');
  }
  return attributes;
}

function transformAttribute({ a, b, c, d, e, f }: { a: number; b: number; c: number; d: number; e: number; f: number }): string {
  if (a === 1 && b === 0 && c === 0 && d === 1 && e === 0 && f === 0) return '';
  if (a === 1 && b === 0 && c === 0 && d === 1) return `transform="translate(${num(e)} ${num(f)})"`;
  return `transform="matrix(${[a, b, c, d, e, f].map(num).join(' ')})"`;
}

/** Three decimals: a thousandth of a pixel, far below what a viewer can show. */
function num(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

/** Escaped for XML text and attributes; characters XML 1.0 cannot hold (controls, lone surrogates) dropped. */
export function escapeXml(text: string): string {
  return text.replace(INVALID_XML_CHARACTERS, '').replace(/[&<>"]/g, (char) => (char === '&' ? '&amp;' : char === '<' ? '&lt;' : char === '>' ? '&gt;' : '&quot;'));
}
