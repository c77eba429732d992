import { performance } from 'node:perf_hooks';
import { ChartdError } from '../errors.js';
import { prepareChartConfig } from './chartjs/prepare-config.js';
import { getChartJsRuntime, type ChartJsRuntime } from './chartjs/runtimes.js';
import { CanvasHandle, ChartHandle } from './handles.js';
import { detectChartJsMajor } from './detect-version.js';
import { encodeRaster, toDataUri } from './encode.js';
import { registerBundledFonts } from './fonts.js';
import { CONTENT_TYPES, JOB_DEFAULTS, type ChartJsMajor, type RenderJob, type RenderRequest, type RenderResult } from './job.js';
import { checkPixelBudget, parseVersion, resolveBackgroundColor, resolveDevicePixelRatio, resolveDimension, resolveFormat, resolveSvgText } from './request-params.js';
import { DEFAULT_LIMITS, type RenderLimits } from './limits.js';
import { parseChartConfig } from './parse-config.js';
import { publishRender, publishRenderStart } from './render-events.js';
import { createPdfSurface, createSvgSurface } from './surfaces.js';
import { validateChartConfig } from './validate-config.js';
import { checkRenderWork } from './work-bounds.js';
import { bindScripts, type DrawingTarget } from './script/bind-scripts.js';
import { loadScriptEngine } from './script/script-session.js';

export interface RenderTimings {
  drawMs: number;
  encodeMs: number;
}

export interface JobAdjustments {
  /**
   * Changes the parsed config before it is validated (a stored chart's template
   * overrides); `version` is the Chart.js major the job will use.
   */
  adjustConfig?: (config: Record<string, unknown>, version: ChartJsMajor) => void;
}

/**
 * Parses and validates a request into a RenderJob. Throws a ChartdError naming
 * the field for anything outside the limits. The cheap parameters are resolved
 * first, so a bad size is refused before any config is parsed or evaluated. A
 * JavaScript config comes with the sandbox that holds its functions (`job.script`):
 * renderJob disposes it; a caller that does not render must dispose it.
 */
export function createRenderJob(request: RenderRequest, limits: RenderLimits = DEFAULT_LIMITS, adjust: JobAdjustments = {}): RenderJob {
  const width = resolveDimension('width', request.width, JOB_DEFAULTS.width, limits.maxWidth);
  const height = resolveDimension('height', request.height, JOB_DEFAULTS.height, limits.maxHeight);
  const devicePixelRatio = resolveDevicePixelRatio(request.devicePixelRatio, limits);
  const format = resolveFormat(request.format);
  const vector = format === 'svg' || format === 'pdf';
  checkPixelBudget(width, height, vector ? 1 : devicePixelRatio, limits);
  const backgroundColor = resolveOpaqueBackground(resolveBackgroundColor(request.backgroundColor), format);
  const explicitVersion = parseVersion(request.version);
  const svgText = resolveSvgText(request.svgText);
  const { config: parsed, script, source } = parseChartConfig(request.chart, limits, { width, height, textIfPlusIsSpace: request.chartIfPlusIsSpace });
  try {
    adjust.adjustConfig?.(parsed, explicitVersion ?? detectChartJsMajor(parsed));
    const config = validateChartConfig(parsed, limits);
    return {
      config,
      version: explicitVersion ?? detectChartJsMajor(config),
      width,
      height,
      devicePixelRatio: vector ? 1 : devicePixelRatio,
      backgroundColor,
      format,
      ...(svgText === 'outlines' && format === 'svg' ? { svgText } : {}),
      ...(script ? { script, scriptSource: source } : {}),
    };
  } catch (error) {
    script?.[Symbol.dispose]();
    throw error;
  }
}

/**
 * Renders a Chart.js config to an image.
 *
 * @example
 * ```ts
 * import { renderChart } from 'chartd';
 * const { body, contentType } = await renderChart({
 *   chart: { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } },
 *   format: 'png',
 * });
 * ```
 */
export async function renderChart(request: RenderRequest, options: { limits?: RenderLimits } = {}): Promise<RenderResult> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  if (typeof request.chart === 'string' && limits.allowScripts) await loadScriptEngine();
  return renderJob(createRenderJob(request, limits), { limits });
}

/**
 * Renders a job created by createRenderJob (it takes ownership of `job.config`).
 * The chart is destroyed and the canvas released on every path, and the promise
 * settles only after the event loop has turned once, so N-API finalizers of this
 * render's native objects run before the next render starts (docs/ARCHITECTURE.md, principle 2, "Let
 * native memory go").
 */
export async function renderJob(job: RenderJob, options: { limits?: RenderLimits } = {}): Promise<RenderResult & { timings: RenderTimings }> {
  const started = performance.now();
  const limits = options.limits ?? DEFAULT_LIMITS;
  try {
    publishRenderStart({ job });
    const result = await renderOnce(job, started, limits);
    checkOutputSize(result.body, job.format, limits);
    publishRender({ job, durationMs: performance.now() - started, timings: result.timings });
    return result;
  } catch (error) {
    const chartdError = toRenderError(error, job);
    publishRender({ job, durationMs: performance.now() - started, error: chartdError });
    throw chartdError;
  } finally {
    job.script?.[Symbol.dispose]();
    await yieldToEventLoop();
  }
}

async function renderOnce(job: RenderJob, started: number, limits: RenderLimits): Promise<RenderResult & { timings: RenderTimings }> {
  registerBundledFonts();
  const runtime = getChartJsRuntime(job.version);
  const config = prepareChartConfig(job, runtime);
  // On the config Chart.js is about to get (aliases resolved, QuickChart's defaults applied).
  checkRenderWork(config, runtime.major, job, limits);
  const contentType = CONTENT_TYPES[job.format];

  if (job.format === 'svg' || job.format === 'pdf') {
    const surface = job.format === 'svg' ? createSvgSurface(job.width, job.height, { outlines: job.svgText === 'outlines' }) : createPdfSurface(job.width, job.height);
    paintVectorBackground(surface.canvas, job);
    bindJobScripts(job, config, surface.canvas);
    let drawn = 0;
    const body = drawChart(runtime, surface.canvas, config, () => {
      drawn = performance.now();
      return surface.finish();
    });
    return { body, contentType, timings: { drawMs: drawn - started, encodeMs: performance.now() - drawn } };
  }

  let encoding: Promise<Buffer>;
  let drawn = 0;
  {
    using surface = new CanvasHandle(job.width, job.height);
    bindJobScripts(job, config, surface.canvas);
    const format = job.format;
    encoding = drawChart(runtime, surface.canvas, config, () => {
      drawn = performance.now();
      return encodeRaster(surface.canvas, format);
    });
  }
  const image = await encoding;
  const body = job.format === 'base64' ? toDataUri(image) : image;
  return { body, contentType, timings: { drawMs: drawn - started, encodeMs: performance.now() - drawn } };
}

interface ClearableContext {
  fillStyle: unknown;
  globalAlpha: number;
  globalCompositeOperation: string;
  save(): void;
  restore(): void;
  clearRect(x: number, y: number, w: number, h: number): void;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/**
 * The background of an SVG or PDF, painted as the first thing of each draw: their
 * devices cannot composite `destination-over` (the raster background plugin's
 * way), so a background painted in beforeDraw covered what plugins drew before it
 * (annotations with drawTime beforeDraw). Chart.js clears the canvas just before
 * its beforeDraw hooks, so the background goes where the clear is.
 */
function paintVectorBackground(canvas: object, job: RenderJob): void {
  if (job.backgroundColor === 'transparent') return;
  const ctx = (canvas as { getContext(kind: '2d'): ClearableContext }).getContext('2d');
  const clearRect = ctx.clearRect.bind(ctx);
  const paint = (x: number, y: number, w: number, h: number) => {
    ctx.save();
    ctx.globalAlpha = 1;
    ctx.globalCompositeOperation = 'source-over';
    ctx.fillStyle = job.backgroundColor;
    ctx.fillRect(x, y, w, h);
    ctx.restore();
  };
  Object.defineProperty(ctx, 'clearRect', {
    configurable: true,
    writable: true,
    value: (x: number, y: number, w: number, h: number) => {
      clearRect(x, y, w, h);
      paint(x, y, w, h);
    },
  });
}

/** A scripted config's functions and helpers become stubs and gradients made for the surface it is drawn on. */
function bindJobScripts(job: RenderJob, config: Record<string, unknown>, canvas: object): void {
  if (!job.script) return;
  const ctx = (canvas as { getContext(kind: '2d'): DrawingTarget['ctx'] }).getContext('2d');
  bindScripts(config, job.script, { ctx, width: job.width, height: job.height });
}

/**
 * Creates and draws one chart, lets `capture` take the drawn image (synchronously:
 * `destroy()` clears the canvas), and destroys the chart on every path: nothing it
 * allocates outlives this call.
 */
function drawChart<T>(runtime: ChartJsRuntime, canvas: object, config: Record<string, unknown>, capture: () => T): T {
  // With animation off, Chart.js lays out and draws synchronously in the constructor.
  using _chart = new ChartHandle(runtime, canvas, config);
  return capture();
}

function checkOutputSize(body: Buffer, format: RenderJob['format'], limits: RenderLimits): void {
  const max = limits.maxOutputBytes[format];
  if (body.length > max) {
    throw new ChartdError(
      'OUTPUT_TOO_LARGE',
      `the ${format} image is ${body.length} bytes, over the limit of ${max}; ask for a smaller chart, fewer points, or a raster format`,
    );
  }
}

/** JPEG has no alpha: a transparent background would come out black, so it is white. */
function resolveOpaqueBackground(color: string, format: string): string {
  return format === 'jpeg' && color === 'transparent' ? '#ffffff' : color;
}

/** Anything Chart.js or a plugin throws while drawing is about the config (Chart.js 2 throws strings, too). */
function toRenderError(error: unknown, job: RenderJob): ChartdError {
  if (error instanceof ChartdError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ChartdError('RENDER_FAILED', `Chart.js ${job.version} could not render this config: ${reason.slice(0, 500)}`, { cause: error });
}

/**
 * Resolves after the event loop's check phase: N-API finalizers (which free
 * @napi-rs/canvas surfaces) run from setImmediate in Node 20, so a microtask
 * yield is not enough (measured: ~1.5 MB more RSS per 800x400 render; docs/ARCHITECTURE.md).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
