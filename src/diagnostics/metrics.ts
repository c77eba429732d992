import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CATALOG, type ErrorCode } from '../errors.js';
import { RESTART_REASONS } from '../pool/pool-events.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { SlotState } from '../pool/worker-slot.js';
import type { ConnectionStats } from '../server/connection-guard.js';
import type { RenderCacheStats } from '../server/render-cache.js';
import type { SeriesState } from './leak-monitor.js';
import { registerLeakMetrics, registerWorkerMetrics } from './worker-metrics.js';

/** Latency buckets, seconds: renders take milliseconds to seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1, 2.5, 5, 10];
/** Stage buckets, seconds: a stage takes from under a millisecond (parse, send) to seconds (a large draw). */
const STAGE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const RENDER_STAGES = ['parse', 'queue', 'draw', 'encode', 'send'] as const;

export interface ServiceMetrics {
  registry: Registry;
  /** Counts an error caught before it could end the process. */
  countInternalError(source: 'timer' | 'uncaught_exception' | 'unhandled_rejection'): void;
  /** Counts a rate-limit count that failed (Redis or PostgreSQL unreachable): the request was admitted uncounted. */
  countRateLimitStoreError(store: 'redis' | 'postgres'): void;
  /** Called once per answered request on the public port. */
  observeRequest(route: string, method: string, statusCode: number, durationSeconds: number, code: string | undefined): void;
  /** Called once per worker answer sent on the public port: from the reply's start to its last byte handed to the socket. */
  observeSend(durationSeconds: number): void;
  /** Called for an answer that never reached its client, with its size. */
  countDroppedAnswer(reason: 'send_timeout' | 'client_gone', bytes: number): void;
}

/**
 * chartd's metrics (docs/METRICS.md) in a registry of their own. Counters follow
 * pool events; gauges read the pool when scraped. Rendering code never sees this.
 */
export function createServiceMetrics(deps: {
  pool: RenderPool;
  leakStates: () => SeriesState[];
  connections?: () => ConnectionStats | undefined;
  renderCache?: () => RenderCacheStats | undefined;
  version: string;
}): ServiceMetrics {
  const { pool } = deps;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'chartd_build_info', help: 'chartd version and Node.js version; always 1', labelNames: ['version', 'node'], registers: [registry] })
    .labels(deps.version, process.version)
    .set(1);

  const { requests, requestDuration, droppedAnswers, droppedBytes } = registerRequestMetrics(registry);
  const rejected = registerPoolMetrics(registry, pool);
  const stageDuration = registerRenderMetrics(registry, pool);
  registerWorkerMetrics(registry, pool);
  registerLeakMetrics(registry, deps.leakStates);
  registerRenderCacheMetrics(registry, () => deps.renderCache?.());
  registerConnectionMetrics(registry, () => deps.connections?.());
  const { faults, rateLimitStoreErrors } = registerFaultMetrics(registry, pool);

  return {
    countInternalError: (source) => faults.labels(source).inc(),
    countRateLimitStoreError: (store) => rateLimitStoreErrors.labels(store).inc(),
    registry,
    observeRequest(route, method, statusCode, durationSeconds, code) {
      requests.labels(route, method, String(statusCode)).inc();
      requestDuration.labels(route).observe(durationSeconds);
      if (code === ('RATE_LIMITED' satisfies ErrorCode)) rejected.labels('rate_limited').inc();
      else if (code === ('CLIENT_BUDGET_EXCEEDED' satisfies ErrorCode)) rejected.labels('client_budget').inc();
    },
    observeSend: (durationSeconds) => stageDuration.labels('send').observe(durationSeconds),
    countDroppedAnswer(reason, bytes) {
      droppedAnswers.labels(reason).inc();
      droppedBytes.labels(reason).inc(bytes);
    },
  };
}

/** Requests answered on the public port, by route and status, and their latency (observed by the app). */
function registerRequestMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'chartd_requests_total',
    help: 'HTTP requests answered on the public port',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'chartd_request_duration_seconds',
    help: 'Time to answer a request on the public port',
    labelNames: ['route'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const droppedAnswers = new Counter({
    name: 'chartd_answers_dropped_total',
    help: 'Answers that never reached their client: dropped after --send-timeout (send_timeout), or the client closed first (client_gone)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const droppedBytes = new Counter({
    name: 'chartd_answer_bytes_dropped_total',
    help: 'Bytes of the answers counted by chartd_answers_dropped_total',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['send_timeout', 'client_gone']) {
    droppedAnswers.labels(reason).inc(0);
    droppedBytes.labels(reason).inc(0);
  }
  return { requests, requestDuration, droppedAnswers, droppedBytes };
}

/** The pool: worker replacements, refusals, the queue and the workers' states. */
function registerPoolMetrics(registry: Registry, pool: RenderPool): Counter<'reason'> {
  const restarts = new Counter({
    name: 'chartd_worker_restarts_total',
    help: 'Worker replacements by reason: recycled, memory, deadline, crash',
    labelNames: ['reason'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'chartd_requests_rejected_total',
    help: 'Requests refused without rendering, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  // Every series exists from the start, so rate() and sum by (code) work before the first event.
  for (const reason of RESTART_REASONS) restarts.labels(reason).inc(0);
  for (const reason of ['queue_full', 'shutting_down', 'rate_limited', 'client_budget']) rejected.labels(reason).inc(0);
  pool.on('restart', (reason) => restarts.labels(reason).inc());
  pool.on('rejected', (reason) => rejected.labels(reason).inc());

  new Gauge({
    name: 'chartd_queue_depth',
    help: 'Renders waiting for a worker',
    registers: [registry],
    collect() {
      this.set(pool.stats().queueDepth);
    },
  });
  new Gauge({
    name: 'chartd_queue_capacity',
    help: 'The queue bound (--queue)',
    registers: [registry],
    collect() {
      this.set(pool.options.maxQueue);
    },
  });
  new Gauge({
    name: 'chartd_renders_in_flight',
    help: 'Renders running on workers',
    registers: [registry],
    collect() {
      this.set(pool.stats().inFlight);
    },
  });
  new Gauge({
    name: 'chartd_workers',
    help: 'Workers by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = new Map<SlotState, number>([
        ['starting', 0],
        ['idle', 0],
        ['busy', 0],
        ['capturing', 0],
        ['retiring', 0],
      ]);
      for (const worker of pool.stats().workers) counts.set(worker.state, (counts.get(worker.state) ?? 0) + 1);
      for (const [state, count] of counts) this.labels(state).set(count);
    },
  });
  return rejected;
}

/** Renders: time on a worker, queue wait, time per stage, failures by code (from the pool's task events). */
function registerRenderMetrics(registry: Registry, pool: RenderPool): Histogram<'stage'> {
  const renderDuration = new Histogram({
    name: 'chartd_render_duration_seconds',
    help: 'Time on a worker for successful renders',
    labelNames: ['engine', 'format'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'chartd_queue_wait_seconds',
    help: 'Time a render waited for a free worker',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const stageDuration = new Histogram({
    name: 'chartd_render_stage_seconds',
    help: 'Time in each stage of a render: parse, draw, encode (in the worker), queue (waiting for a worker), send (the reply)',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
  for (const stage of RENDER_STAGES) stageDuration.zero({ stage });
  const renderErrors = new Counter({
    name: 'chartd_render_errors_total',
    help: 'Failed renders by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  // Every code exists from the start, so sum by (code) works before the first error.
  for (const code of Object.keys(ERROR_CATALOG)) renderErrors.labels(code).inc(0);

  pool.on('task', (event) => {
    queueWait.observe(event.queueWaitMs / 1000);
    stageDuration.labels('queue').observe(event.queueWaitMs / 1000);
    // parse: every answer of a worker; draw and encode: the renders that drew.
    if (event.timings) stageDuration.labels('parse').observe(event.timings.parseMs / 1000);
    if (event.timings && event.outcome === 'rendered') {
      stageDuration.labels('draw').observe(event.timings.drawMs / 1000);
      stageDuration.labels('encode').observe(event.timings.encodeMs / 1000);
    }
    if (event.error) renderErrors.labels(event.error.code).inc();
    if (event.outcome === 'rendered' && event.job) {
      renderDuration.labels(event.job.engine, event.job.format).observe(event.renderMs / 1000);
    }
  });
  return stageDuration;
}

/** The public port's connections: open now, refused by cap. */
function registerConnectionMetrics(registry: Registry, connections: () => ConnectionStats | undefined): void {
  new Gauge({
    name: 'chartd_connections_open',
    help: 'Connections open on the public port',
    registers: [registry],
    collect() {
      this.set(connections()?.open ?? 0);
    },
  });
  new Counter({
    name: 'chartd_connections_refused_total',
    help: 'Connections answered 503 TOO_MANY_CONNECTIONS and closed, by cap: total (--max-connections) or per_client',
    labelNames: ['cap'],
    registers: [registry],
    collect() {
      const refused = connections()?.refused ?? { total: 0, per_client: 0 };
      this.reset();
      this.labels('total').inc(refused.total);
      this.labels('per_client').inc(refused.per_client);
    },
  });
}

/** Errors caught where they would have ended the process, and failed shared rate-limit counts. */
function registerFaultMetrics(registry: Registry, pool: RenderPool) {
  const rateLimitStoreErrors = new Counter({
    name: 'chartd_rate_limit_store_errors_total',
    help: 'Rate-limit counts that failed (the shared store, Redis or PostgreSQL, unreachable or too slow): the request was admitted uncounted',
    labelNames: ['store'],
    registers: [registry],
  });
  const faults = new Counter({
    name: 'chartd_internal_errors_total',
    help: 'Errors caught where they would have ended the process: pool callbacks and timers, uncaught exceptions, unhandled rejections',
    labelNames: ['source'],
    registers: [registry],
  });
  for (const source of ['pool', 'timer', 'uncaught_exception', 'unhandled_rejection']) faults.labels(source).inc(0);
  pool.on('fault', () => faults.labels('pool').inc());
  return { faults, rateLimitStoreErrors };
}

/** The render cache's families; all zero when the cache is off, so dashboards need no special case. */
function registerRenderCacheMetrics(registry: Registry, stats: () => RenderCacheStats | undefined): void {
  const counter = (name: string, help: string, read: (s: RenderCacheStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(stats() ?? EMPTY_CACHE_STATS));
      },
    });
  const gauge = (name: string, help: string, read: (s: RenderCacheStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(stats() ?? EMPTY_CACHE_STATS));
      },
    });
  counter('chartd_render_cache_hits_total', 'Requests answered from the render cache, without a worker', (s) => s.hits);
  counter('chartd_render_cache_misses_total', 'Requests the render cache did not have', (s) => s.misses);
  counter('chartd_render_cache_evictions_total', 'Images dropped from the render cache to make room (expired ones not counted)', (s) => s.evictions);
  gauge('chartd_render_cache_bytes', 'Bytes held by the render cache (images and per-entry overhead)', (s) => s.bytes);
  gauge('chartd_render_cache_entries', 'Images in the render cache', (s) => s.entries);
  gauge('chartd_render_cache_max_bytes', 'The render cache bound (--render-cache), bytes; 0 when off', (s) => s.maxBytes);
}

const EMPTY_CACHE_STATS: RenderCacheStats = Object.freeze({ hits: 0, misses: 0, evictions: 0, bytes: 0, entries: 0, maxBytes: 0 });
