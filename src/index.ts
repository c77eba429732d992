/** chartd's library API: render Chart.js configs to images in this process. */
export { renderChart, createRenderJob, renderJob, yieldToEventLoop } from './render/render-chart.js';
export type { RenderRequest, RenderJob, RenderResult, OutputFormat, ChartJsMajor } from './render/job.js';
export { OUTPUT_FORMATS, JOB_DEFAULTS, CONTENT_TYPES } from './render/job.js';
export { DEFAULT_LIMITS, type RenderLimits } from './render/limits.js';
export { countLiveCharts } from './render/chartjs/runtimes.js';
export { ChartdError, ERROR_CATALOG, type ErrorCode } from './errors.js';
export { renderChannel, renderStartChannel, type RenderEvent, type RenderStartEvent } from './render/render-events.js';
export { openCanvas, CanvasHandle, ChartHandle } from './render/handles.js';
export { leakedHandleCounts, type HandleKind } from './render/leak-sentinel.js';
export { createRenderPool, RenderPool, type PoolResult, type PoolStats, type ChartOutcome } from './pool/render-pool.js';
export type { RawChartRequest } from './render/chart-request.js';
export type { RenderPoolOptions } from './pool/pool-options.js';
export { loadScriptEngine, liveScriptSessions } from './render/script/script-session.js';
