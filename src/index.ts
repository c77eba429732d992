/**
 * chartd's library API: exactly what docs/API.md "Library" lists (test/package-surface.test.ts
 * holds the two together). package.json's `exports` makes this file the only entry point.
 */
export { renderChart, createRenderJob, renderJob } from './render/render-chart.js';
export type { RenderRequest, RenderJob, RenderResult, OutputFormat, ChartJsMajor } from './render/job.js';
export { OUTPUT_FORMATS, JOB_DEFAULTS, CONTENT_TYPES } from './render/job.js';
export { DEFAULT_LIMITS, type RenderLimits } from './render/limits.js';
export { ChartdError, ERROR_CATALOG, type ErrorCode } from './errors.js';
export { createRenderPool, RenderPool, type PoolResult, type PoolStats, type ChartOutcome } from './pool/render-pool.js';
export type { RawChartRequest } from './render/chart-request.js';
export type { RenderPoolOptions } from './pool/pool-options.js';
export { loadScriptEngine, liveScriptSessions } from './render/script/script-session.js';
// Leak checks and tracing for callers that render in their own process.
export { countLiveCharts } from './render/chartjs/runtimes.js';
export { leakedHandleCounts, type HandleKind } from './render/leak-sentinel.js';
export { renderChannel, renderStartChannel, type RenderEvent, type RenderStartEvent } from './render/render-events.js';
export {
  signChartUrl,
  signatureBaseString,
  canonicalQuery,
  quickChartSignature,
  SigningKeyring,
  SIGNATURE_PARAMS,
  type SignChartUrlOptions,
} from './signing.js';
