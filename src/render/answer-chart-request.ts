import { performance } from 'node:perf_hooks';
import { ChartdError, ERROR_CATALOG, toChartdError } from '../errors.js';
import { readChartRequest, type RawChartRequest } from './chart-request.js';
import { drawErrorImage } from './error-image.js';
import { computeEtag, matchesIfNoneMatch } from './etag.js';
import type { ChartJsMajor, OutputFormat, RenderJob } from './job.js';
import { DEFAULT_LIMITS, type RenderLimits } from './limits.js';
import { createRenderJob, renderJob } from './render-chart.js';
import { loadScriptEngine } from './script/script-session.js';

/** What a log line and a metric label need to know about a job: sizes and kinds, never the config. */
export interface JobSummary {
  format: OutputFormat;
  version: ChartJsMajor;
  width: number;
  height: number;
  devicePixelRatio: number;
}

/** Milliseconds spent in each stage of one answer (0 for a stage not reached). */
export interface StageTimings {
  parseMs: number;
  drawMs: number;
  encodeMs: number;
}

export type ChartAnswer =
  | { type: 'rendered'; body: Buffer; contentType: string; etag: string; job: JobSummary; timings: StageTimings }
  /** The client's If-None-Match names this chart: nothing was drawn. */
  | { type: 'not-modified'; etag: string; job: JobSummary; timings: StageTimings }
  /** The request or its config is at fault; `image` when the caller asked for the error drawn. */
  | { type: 'refused'; error: ChartdError; job: JobSummary | undefined; image: Buffer | undefined; timings: StageTimings };

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
 * Everything a render worker does for one chart request: parse and validate
 * the raw request (or take a ready job), answer a matching If-None-Match without
 * drawing, render, and turn a failure into a coded refusal, drawn as an image when
 * asked. Never throws for bad input: a refusal is an answer.
 */
export async function answerChartRequest(input: { request: RawChartRequest } | { job: RenderJob }, options: AnswerOptions): Promise<ChartAnswer> {
  const started = performance.now();
  const timings: StageTimings = { parseMs: 0, drawMs: 0, encodeMs: 0 };
  let job: RenderJob | undefined;
  const limits = options.limits ?? DEFAULT_LIMITS;
  try {
    if (limits.allowScripts) await loadScriptEngine();
    job = 'job' in input ? reviveJob(input.job, limits) : createRenderJob(readChartRequest(input.request), limits);
    timings.parseMs = performance.now() - started;
    const summary = summarize(job);
    const etag = computeEtag(job, options.chartdVersion);
    if (matchesIfNoneMatch(options.ifNoneMatch, etag)) return { type: 'not-modified', etag, job: summary, timings };
    const result = await renderJob(job, { limits });
    timings.drawMs = result.timings.drawMs;
    timings.encodeMs = result.timings.encodeMs;
    return { type: 'rendered', body: result.body, contentType: result.contentType, etag, job: summary, timings };
  } catch (caught) {
    if (job === undefined) timings.parseMs = performance.now() - started;
    const error = toChartdError(caught);
    const summary = job && summarize(job);
    const image = options.errorImage ? await drawRefusal(error, summary) : undefined;
    return { type: 'refused', error, job: summary, image, timings };
  } finally {
    // renderJob disposed it if it ran; if it did not (304, a refusal), the sandbox goes here.
    job?.script?.[Symbol.dispose]();
  }
}

/**
 * A job that crossed from another process left its sandbox behind (it cannot
 * cross): its config text is evaluated again here, with the job's own parameters.
 */
function reviveJob(job: RenderJob, limits: RenderLimits): RenderJob {
  if (job.script || job.scriptSource === undefined) return job;
  const { width, height, devicePixelRatio, backgroundColor, format, version } = job;
  return createRenderJob({ chart: job.scriptSource, width, height, devicePixelRatio, backgroundColor, format, version }, limits);
}

function summarize(job: RenderJob): JobSummary {
  return { format: job.format, version: job.version, width: job.width, height: job.height, devicePixelRatio: job.devicePixelRatio };
}

/** The error at the size the chart was asked for, or QuickChart's default size when none was resolved. */
function drawRefusal(error: ChartdError, job: JobSummary | undefined): Promise<Buffer> {
  const { width, height } = job ?? DEFAULT_ERROR_IMAGE_SIZE;
  return drawErrorImage(ERROR_CATALOG[error.code].title, `${error.code}: ${error.message}`, width, height);
}
