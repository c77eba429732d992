import { createCanvas, PDFDocument, SvgExportFlag, type Canvas, type SKRSContext2D } from '@napi-rs/canvas';
import { withFallbackFamilies } from './fonts.js';
import { interceptSetter } from './accessors.js';
import { rasterTextMetrics, svgTextMetrics, trackContextState } from './context-state.js';
import { SvgTextWriter, type SvgTextOptions } from './svg-text.js';
import { arcAsCurves, type Arc } from './vector-arcs.js';

/**
 * Canvases for one render. A raster canvas is reused by the thread (measured:
 * ~23 % faster than a new one per render): resizing it frees the old surface at
 * once and resets the context state. Chart creation and drawing are synchronous
 * and `encode()` snapshots the pixels when called, so one spare canvas serves a
 * thread even when renders overlap.
 */
let spareCanvas: Canvas | undefined;

/** Past this many pixels a reused canvas is shrunk after use, so an idle thread keeps no big surface. */
const KEEP_SURFACE_MAX_PIXELS = 2_000_000;

const CONTEXT_ADAPTED = Symbol('chartd.contextAdapted');

export function acquireRasterCanvas(width: number, height: number): Canvas {
  const canvas = spareCanvas ?? createCanvas(width, height);
  spareCanvas = undefined;
  canvas.width = width;
  canvas.height = height;
  prepareForChartJs(canvas);
  const ctx = canvas.getContext('2d');
  adaptContextForChartJs(ctx, clampedArc(ctx));
  trackContextState(ctx, canvas, rasterTextMetrics);
  return canvas;
}

export function releaseRasterCanvas(canvas: Canvas): void {
  if (canvas.width * canvas.height > KEEP_SURFACE_MAX_PIXELS) {
    canvas.width = 1;
    canvas.height = 1;
  }
  // A second canvas (overlapping renders) is dropped; its finalizer frees it.
  spareCanvas ??= canvas;
}

/** A vector surface: something Chart.js draws on, and the document it makes. */
export interface VectorSurface {
  canvas: object;
  finish(): Buffer;
}

/**
 * A vector SVG canvas. Text stays text (`<text>` with the font families named,
 * svg-text.ts): glyphs as paths made a chart's SVG 4x larger and slower to write.
 * Arcs are written as cubic curves (vector-arcs.ts).
 */
export function createSvgSurface(width: number, height: number, textOptions: SvgTextOptions = {}): VectorSurface {
  // Relative path commands: a fifth fewer bytes than absolute ones (svg-text.ts drops the pretty-printing).
  const canvas = createCanvas(width, height, SvgExportFlag.RelativePathEncoding);
  prepareForChartJs(canvas);
  const ctx = canvas.getContext('2d');
  adaptContextForChartJs(ctx, arcAsCurves(ctx));
  trackContextState(ctx, canvas, svgTextMetrics);
  const text = new SvgTextWriter({ width, height }, textOptions);
  text.install(ctx);
  return { canvas, finish: () => Buffer.from(text.finish(canvas.getContent().toString('utf8')), 'utf8') };
}

/**
 * A one-page vector PDF. Chart.js needs a canvas-like object whose context points
 * back at it; Skia's PDF context has no canvas, so a stand-in carries the size and
 * a proxy adds the back-reference.
 */
export function createPdfSurface(width: number, height: number): VectorSurface {
  const document = new PDFDocument({ creator: 'chartd', producer: 'chartd (Skia/PDF)' });
  const page = document.beginPage(width, height);
  const fakeCanvas: Record<string, unknown> = { width, height, style: {} };
  const arc = arcAsCurves(page);
  const context = new Proxy(page, {
    get(target, property) {
      if (property === 'canvas') return fakeCanvas;
      if (property === 'arc') return arc;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(target, property, value) {
      const next = property === 'font' && typeof value === 'string' ? withFallbackFamilies(value) : value;
      return Reflect.set(target, property, next, target);
    },
  });
  fakeCanvas.getContext = () => context;
  return {
    canvas: fakeCanvas,
    finish(): Buffer {
      document.endPage();
      return document.close();
    },
  };
}

/** Chart.js 2 writes `canvas.style.width/height` during retina scaling. */
function prepareForChartJs(canvas: object): void {
  (canvas as { style?: object }).style = {};
}

/**
 * Adapts a Skia context to what Chart.js' server-side users expect:
 *  - every font Chart.js sets gets the bundled families appended, so CJK text
 *    falls back to Noto Sans SC whatever family the config names (fonts.ts);
 *  - `arc` clamps a negative radius to 0, as node-canvas (QuickChart's canvas)
 *    does: Chart.js 2 computes one when a legend leaves no room (polarArea with
 *    many labels), and Skia, like browsers, would throw.
 */
function adaptContextForChartJs(ctx: SKRSContext2D, arc: Arc): void {
  const tagged = ctx as unknown as Record<symbol, boolean>;
  if (tagged[CONTEXT_ADAPTED]) return;
  Object.defineProperty(ctx, 'arc', { configurable: true, writable: true, value: arc });
  interceptSetter(ctx, 'font', (value, setNative) => setNative(withFallbackFamilies(String(value))));
  tagged[CONTEXT_ADAPTED] = true;
}

function clampedArc(ctx: { arc: Arc }): Arc {
  const arc = ctx.arc.bind(ctx) as Arc;
  return (x, y, radius, start, end, counterclockwise) => arc(x, y, radius < 0 ? 0 : radius, start, end, counterclockwise);
}
