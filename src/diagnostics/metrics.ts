import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_CATALOG, type ErrorCode } from '../errors.js';
import { RESTART_REASONS, type WorkerExitEvent } from '../pool/pool-events.js';
import type { RenderPool, WorkerInfo } from '../pool/render-pool.js';
import type { SlotState } from '../pool/worker-slot.js';
import { leakedHandleCounts } from '../render/leak-sentinel.js';
import type { ConnectionStats } from '../server/connection-guard.js';
import type { RenderCacheStats } from '../server/render-cache.js';
import type { SeriesState } from './leak-monitor.js';

/** Latency buckets, seconds: renders take milliseconds to seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1, 2.5, 5, 10];

export interface ServiceMetrics {
  registry: Registry;
  /** Counts an error caught before it could end the process. */
  countInternalError(source: 'timer' | 'uncaught_exception' | 'unhandled_rejection'): void;
  /** Called once per answered request on the public port. */
  observeRequest(route: string, method: string, statusCode: number, durationSeconds: number, code: string | undefined): void;
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
  const { pool, leakStates } = deps;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({ name: 'chartd_build_info', help: 'chartd version and Node.js version; always 1', labelNames: ['version', 'node'], registers: [registry] })
    .labels(deps.version, process.version)
    .set(1);

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
  const renderErrors = new Counter({
    name: 'chartd_render_errors_total',
    help: 'Failed renders by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  // Every series exists from the start, so rate() and sum by (code) work before the first event.
  for (const reason of RESTART_REASONS) restarts.labels(reason).inc(0);
  for (const reason of ['queue_full', 'shutting_down', 'rate_limited', 'client_budget']) rejected.labels(reason).inc(0);
  for (const code of Object.keys(ERROR_CATALOG)) renderErrors.labels(code).inc(0);

  pool.on('task', (event) => {
    queueWait.observe(event.queueWaitMs / 1000);
    if (event.error) renderErrors.labels(event.error.code).inc();
    if (event.outcome === 'rendered' && event.job) {
      renderDuration.labels(event.job.engine, event.job.format).observe(event.renderMs / 1000);
    }
  });
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

  const perWorker = (name: string, help: string, read: (worker: WorkerInfo) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const worker of pool.stats().workers) {
          if (worker.state === 'retiring') continue;
          const value = read(worker);
          if (value !== undefined) this.labels(String(worker.slot)).set(value);
        }
      },
    });
  perWorker('chartd_worker_heap_used_bytes', 'V8 heap used by the worker after its last render', (w) => w.heapUsedBytes);
  perWorker('chartd_worker_heap_post_gc_bytes', "V8 heap used right after the worker's last major GC", (w) => w.heapPostGcBytes);
  perWorker('chartd_worker_external_bytes', 'External (Buffer, ArrayBuffer) memory of the worker', (w) => w.externalBytes);
  perWorker('chartd_worker_resident_bytes', "Resident memory (RSS, native memory included) of the worker's process, read from the OS", (w) => w.residentBytes);
  perWorker('chartd_worker_renders', 'Renders served by the worker now in this slot', (w) => w.renders);
  perWorker('chartd_worker_age_seconds', 'Age of the worker now in this slot', (w) => w.ageMs / 1000);
  perWorker('chartd_worker_live_sandboxes', 'Script sandboxes alive in the worker after its last render: 0, or a leak', (w) => w.liveSandboxes);

  new Counter({
    name: 'chartd_worker_cpu_seconds_total',
    help: "CPU time (user + system) of the worker processes in each slot, those since replaced included",
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      const { workers, retiredCpuSeconds } = pool.stats();
      const bySlot = [...retiredCpuSeconds];
      for (const worker of workers) bySlot[worker.slot] = (bySlot[worker.slot] ?? 0) + worker.cpuSeconds;
      this.reset();
      bySlot.forEach((seconds, slot) => this.labels(String(slot)).inc(seconds));
    },
  });

  // Handles leaked by workers that have since been replaced still count.
  const leakedByRetired = { chart: 0, canvas: 0 };
  pool.on('workerExit', ({ stats }: WorkerExitEvent) => {
    leakedByRetired.chart += stats.leakedCharts;
    leakedByRetired.canvas += stats.leakedCanvases;
  });
  new Counter({
    name: 'chartd_leaked_handles_total',
    help: "Charts and canvases made through chartd's API that were garbage-collected without being disposed",
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const main = leakedHandleCounts();
      const total = { chart: main.chart + leakedByRetired.chart, canvas: main.canvas + leakedByRetired.canvas };
      for (const worker of pool.stats().workers) {
        total.chart += worker.leakedCharts;
        total.canvas += worker.leakedCanvases;
      }
      this.reset();
      this.labels('chart').inc(total.chart);
      this.labels('canvas').inc(total.canvas);
    },
  });

  const leakGauge = (name: string, help: string, read: (estimate: SeriesState['estimate']) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['thread', 'signal'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { thread, signal, estimate } of leakStates()) this.labels(thread, signal).set(read(estimate));
      },
    });
  leakGauge('chartd_leak_growth_ratio_per_hour', 'Leak detector: robust memory growth per hour as a fraction of the baseline', (e) => e.ratioPerHour);
  leakGauge('chartd_leak_growth_bytes_per_hour', 'Leak detector: robust memory growth in bytes per hour', (e) => e.bytesPerHour);
  leakGauge('chartd_leak_suspected', 'Leak detector: 1 while growth stays over the threshold for the whole window', (e) => (e.suspected ? 1 : 0));

  registerRenderCacheMetrics(registry, () => deps.renderCache?.());

  new Gauge({
    name: 'chartd_connections_open',
    help: 'Connections open on the public port',
    registers: [registry],
    collect() {
      this.set(deps.connections?.()?.open ?? 0);
    },
  });
  new Counter({
    name: 'chartd_connections_refused_total',
    help: 'Connections answered 503 TOO_MANY_CONNECTIONS and closed, by cap: total (--max-connections) or per_client',
    labelNames: ['cap'],
    registers: [registry],
    collect() {
      const refused = deps.connections?.()?.refused ?? { total: 0, per_client: 0 };
      this.reset();
      this.labels('total').inc(refused.total);
      this.labels('per_client').inc(refused.per_client);
    },
  });
  const faults = new Counter({
    name: 'chartd_internal_errors_total',
    help: 'Errors caught where they would have ended the process: pool callbacks and timers, uncaught exceptions, unhandled rejections',
    labelNames: ['source'],
    registers: [registry],
  });
  for (const source of ['pool', 'timer', 'uncaught_exception', 'unhandled_rejection']) faults.labels(source).inc(0);
  pool.on('fault', () => faults.labels('pool').inc());

  return {
    countInternalError: (source) => faults.labels(source).inc(),
    registry,
    observeRequest(route, method, statusCode, durationSeconds, code) {
      requests.labels(route, method, String(statusCode)).inc();
      requestDuration.labels(route).observe(durationSeconds);
      if (code === ('RATE_LIMITED' satisfies ErrorCode)) rejected.labels('rate_limited').inc();
      else if (code === ('CLIENT_BUDGET_EXCEEDED' satisfies ErrorCode)) rejected.labels('client_budget').inc();
    },
  };
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
