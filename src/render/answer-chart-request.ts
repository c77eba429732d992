import { performance } from 'node:perf_hooks';
import { ChartdError, ERROR_CATALOG, toChartdError } from '../errors.js';
import { readChartRequest, type RawChartRequest } from './chart-request.js';
import { drawErrorImage } from './error-image.js';
import { computeEtag, matchesIfNoneMatch } from './etag.js';
import { hasFunctions, toConfigText } from './gchart/config-text.js';
import { qrJobFromGoogle } from './gchart/google-qr.js';
import { toChartJs } from './gchart/to-chartjs.js';
import { type ChartJsMajor, type RenderJob } from './job.js';
import { checkPixelBudget } from './request-params.js';
import { truncate } from '../values.js';
import { DEFAULT_LIMITS, type RenderLimits } from './limits.js';
import { resolveQrJob, type QrJob } from './qr/qr-job.js';
import { renderQr } from './qr/render-qr.js';
import { createRenderJob, renderJob } from './render-chart.js';
import { loadScriptEngine } from './script/script-session.js';
import { createStoredChartJob } from './template-overrides.js';

/** What a log line and a metric label need to know about a job: sizes and kinds, never the config. */
export interface JobSummary {
  /** What drew it: chartjs2, chartjs3, chartjs4 or qrcode. */
  engine: Engine;
  /** An OutputFormat, or `chartjs-config` for a Google Image Charts URL converted and not drawn. */
  format: string;
  width: number;
  height: number;
  devicePixelRatio: number;
}

export type Engine = `chartjs${ChartJsMajor}` | 'qrcode';

/** Milliseconds spent in each stage of one answer (0 for a stage not reached). */
export interface StageTimings {
  parseMs: number;
  drawMs: number;
  encodeMs: number;
}

/** An answer, with its bytes and error as the side that holds it has them (the worker protocol sends Uint8Array and plain errors). */
export type AnswerOf<Bytes, Failure> =
  | { type: 'rendered'; body: Bytes; contentType: string; etag: string; job: JobSummary; timings: StageTimings }
  /** The client's If-None-Match names this chart: nothing was drawn. */
  | { type: 'not-modified'; etag: string; job: JobSummary; timings: StageTimings }
  /** The request or its config is at fault; `image` when the caller asked for the error drawn. */
  | { type: 'refused'; error: Failure; job: JobSummary | undefined; image: Bytes | undefined; timings: StageTimings };

export type ChartAnswer = AnswerOf<Buffer, ChartdError>;

export interface AnswerOptions {
  chartdVersion: string;
  /** The request's If-None-Match header. */
  ifNoneMatch?: string | undefined;
  /** Draw a refusal as a PNG (for `<img>` embeds). */
  errorImage?: boolean | undefined;
  limits?: RenderLimits | undefined;
}

const DEFAULT_ERROR_IMAGE_SIZE = { width: 500, height: 300 };

/**
 * Everything a render worker does for one request: parse and validate the raw
 * request (a chart, a QR code or a Google Image Charts URL; or take a ready job),
 * answer a matching If-None-Match without drawing, draw, and turn a failure into
 * a coded refusal, drawn as an image when asked. Never throws for bad input: a
 * refusal is an answer.
 */
export async function answerChartRequest(input: { request: RawChartRequest } | { job: RenderJob }, options: AnswerOptions): Promise<ChartAnswer> {
  const started = performance.now();
  const timings: StageTimings = { parseMs: 0, drawMs: 0, encodeMs: 0 };
  const limits = options.limits ?? DEFAULT_LIMITS;
  let work: Work | undefined;
  try {
    work = await prepareWork(input, limits, options.chartdVersion);
    timings.parseMs = performance.now() - started;
    if (matchesIfNoneMatch(options.ifNoneMatch, work.etag)) return { type: 'not-modified', etag: work.etag, job: work.summary, timings };
    const result = await work.draw();
    timings.drawMs = result.timings.drawMs;
    timings.encodeMs = result.timings.encodeMs;
    return { type: 'rendered', body: result.body, contentType: result.contentType, etag: work.etag, job: work.summary, timings };
  } catch (caught) {
    if (work === undefined) timings.parseMs = performance.now() - started;
    const error = toChartdError(caught);
    const image = options.errorImage ? await drawRefusal(error, work?.summary) : undefined;
    return { type: 'refused', error, job: work?.summary, image, timings };
  } finally {
    work?.dispose();
  }
}

/** One parsed request, ready to draw: what it is, its ETag, and how to draw it. */
interface Work {
  summary: JobSummary;
  etag: string;
  draw(): Promise<{ body: Buffer; contentType: string; timings: { drawMs: number; encodeMs: number } }>;
  /** Frees what parsing allocated (a sandbox) when draw did not run or did not finish. */
  dispose(): void;
}

async function prepareWork(input: { request: RawChartRequest } | { job: RenderJob }, limits: RenderLimits, chartdVersion: string): Promise<Work> {
  if ('job' in input) {
    if (limits.allowScripts) await loadScriptEngine();
    return chartWork(reviveJob(input.job, limits), limits, chartdVersion);
  }
  const request = input.request;
  switch (request.kind) {
    case 'qr':
      return qrWork(resolveQrJob(request.params), limits, chartdVersion);
    case 'gchart':
      return googleChartWork(request.params, limits, chartdVersion);
    case 'stored':
      if (limits.allowScripts) await loadScriptEngine();
      return chartWork(createStoredChartJob(request, limits), limits, chartdVersion);
    default:
      if (limits.allowScripts) await loadScriptEngine();
      return chartWork(createRenderJob(readChartRequest(request), limits), limits, chartdVersion);
  }
}

function chartWork(job: RenderJob, limits: RenderLimits, chartdVersion: string): Work {
  return {
    summary: { engine: `chartjs${job.version}`, format: job.format, width: job.width, height: job.height, devicePixelRatio: job.devicePixelRatio },
    etag: computeEtag(job, chartdVersion),
    draw: () => renderJob(job, { limits }),
    // renderJob disposed it if it ran; if it did not (304, a refusal), the sandbox goes here.
    dispose: () => job.script?.[Symbol.dispose](),
  };
}

function qrWork(job: QrJob, limits: RenderLimits, chartdVersion: string): Work {
  checkPixelBudget(job.size, job.size, 1, limits);
  return {
    summary: { engine: 'qrcode', format: job.format, width: job.size, height: job.size, devicePixelRatio: 1 },
    etag: computeEtag({ qr: job }, chartdVersion),
    draw: () => renderQr(job),
    dispose: () => {},
  };
}

/**
 * A Google Image Charts URL: `cht=qr` is a QR code; any other type is converted
 * to a Chart.js 2 config (as QuickChart draws them, at devicePixelRatio 1) and
 * rendered as a chart, or returned as text with `format=chartjs-config`. The
 * config's functions are chartd's own, so they run whatever --scripts says.
 */
async function googleChartWork(params: Record<string, string>, limits: RenderLimits, chartdVersion: string): Promise<Work> {
  if (params.cht?.trim() === 'qr') return qrWork(qrJobFromGoogle(params), limits, chartdVersion);
  const converted = toChartJs(params);
  const text = toConfigText(converted.config);
  if (params.format === 'chartjs-config') {
    const body = Buffer.from(toConfigText(converted.config, 2), 'utf8');
    const contentType = hasFunctions(converted.config) ? 'text/javascript; charset=utf-8' : 'application/json';
    return {
      summary: { engine: 'chartjs2', format: 'chartjs-config', width: converted.width, height: converted.height, devicePixelRatio: 1 },
      etag: computeEtag({ chartjsConfig: text }, chartdVersion),
      draw: async () => ({ body, contentType, timings: { drawMs: 0, encodeMs: 0 } }),
      dispose: () => {},
    };
  }
  const ownLimits = { ...limits, allowScripts: true };
  await loadScriptEngine();
  const job = createRenderJob(
    { chart: text, width: converted.width, height: converted.height, devicePixelRatio: 1, backgroundColor: converted.backgroundColor, version: 2, format: resolveGoogleFormat(params.chof) },
    ownLimits,
  );
  return chartWork(job, ownLimits, chartdVersion);
}

/** `chof`: png (Google's default) or svg. */
function resolveGoogleFormat(chof: string | undefined): 'png' | 'svg' {
  const format = (chof ?? 'png').trim().toLowerCase() || 'png';
  if (format !== 'png' && format !== 'svg') throw new ChartdError('FORMAT_UNSUPPORTED', `chof must be png or svg, got "${truncate(format, 16)}"`);
  return format;
}

/**
 * A job that crossed from another process left its sandbox behind (it cannot
 * cross): its config text is evaluated again here, with the job's own parameters.
 */
function reviveJob(job: RenderJob, limits: RenderLimits): RenderJob {
  if (job.script || job.scriptSource === undefined) return job;
  const { width, height, devicePixelRatio, backgroundColor, format, version, svgText } = job;
  return createRenderJob({ chart: job.scriptSource, width, height, devicePixelRatio, backgroundColor, format, version, svgText }, limits);
}

/** The error at the size the chart was asked for, or QuickChart's default size when none was resolved. */
function drawRefusal(error: ChartdError, job: JobSummary | undefined): Promise<Buffer> {
  const { width, height } = job ?? DEFAULT_ERROR_IMAGE_SIZE;
  return drawErrorImage(ERROR_CATALOG[error.code].title, `${error.code}: ${error.message}`, width, height);
}
