import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { watchGc } from './diagnostics/gc-watch.js';
import { LEAK_DETECTOR_DEFAULTS } from './diagnostics/leak-detector.js';
import { LeakMonitor } from './diagnostics/leak-monitor.js';
import { createServiceMetrics, type ServiceMetrics } from './diagnostics/metrics.js';
import { markHeapProfile, startHeapSampling } from './diagnostics/profilers.js';
import { WARM_UP, type WarmUp } from './diagnostics/warm-up.js';
import { resolveOutputLimits, resolveQueue, type ServiceOptions } from './options.js';
import { createRenderPool, type RenderPool } from './pool/render-pool.js';
import { buildAdminApp } from './server/admin-app.js';
import { buildApp } from './server/app.js';
import { loadApiKeys } from './server/api-keys.js';
import { budgetMsOf, ClientBudget } from './server/client-budget.js';
import { RenderCache } from './server/render-cache.js';
import { connectionStatsOf } from './server/connection-guard.js';
import type { ChartStore } from './store/chart-store.js';
import { openChartStore } from './store/open-store.js';
import { CHARTD_VERSION } from './version.js';

/** The most often a worker forces a full GC for the leak detector, ms. */
const MIN_SETTLE_EVERY_MS = 1_000;

/** What only code (tests, benchmarks, embedders) may set: never a flag, never a request. */
export interface ServiceInternals {
  /** Extra Node.js flags for the render worker processes (e.g. `--import` of instrumentation). */
  workerExecArgv?: readonly string[];
  /** How long startup waits for every worker to be ready before listening anyway (default 30 s). */
  readyTimeoutMs?: number;
  /** When a process's warm-up is over, for the leak detector and heap profiles `?since=warmup` (default WARM_UP). */
  warmUp?: WarmUp;
}

/** After the drain timeout, connections that never sent a request are cut too. */
const CLOSE_GRACE_MS = 1_000;

/** How often expired stored charts are dropped (reads never return them anyway), at most. */
const STORE_PURGE_INTERVAL_MS = 600_000;

export interface RunningService {
  app: FastifyInstance;
  admin: FastifyInstance;
  pool: RenderPool;
  /** Stored charts (/chart/create); closed by close(), after the last request. */
  store: ChartStore;
  leakMonitor: LeakMonitor;
  metrics: ServiceMetrics;
  /** http://host:port of the public listener. */
  url: string;
  /** http://host:port of the admin listener. */
  adminUrl: string;
  /** Stops accepting, lets accepted requests finish (bounded by drainTimeoutMs), ends the workers. Idempotent. */
  close(): Promise<void>;
  /**
   * SIGTERM's sequence: /readyz fails at once (shutting_down, on both listeners) while
   * requests are still served, with Connection: close, for options.drainDelayMs, so
   * that load balancers and Kubernetes take this replica out of rotation before it
   * stops accepting; then close(). Idempotent; close() during the delay cuts it short.
   */
  shutdown(): Promise<void>;
  /** close(), for `await using service = await startService(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the pool, the public listener and the admin listener. */
export async function startService(options: ServiceOptions, internals: ServiceInternals = {}): Promise<RunningService> {
  // Read first: a bad --api-keys file stops the start before anything is running.
  const apiKeys = options.apiKeysFile === '' ? undefined : loadApiKeys(options.apiKeysFile);
  watchGc();
  await startHeapSampling();
  const warmUp = internals.warmUp ?? WARM_UP;
  const pool = createRenderPool({
    workers: options.workers,
    maxQueue: resolveQueue(options),
    maxQueueWaitMs: options.maxQueueWaitMs,
    timeoutMs: options.timeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
    maxRendersPerWorker: options.maxRendersPerWorker,
    workerMemoryBudgetBytes: options.workerMemoryMb * 1024 * 1024,
    workerMemoryLimitBytes: options.workerMemoryLimitMb * 1024 * 1024,
    workerHeapLimitMb: options.workerHeapMb,
    workerExecArgv: internals.workerExecArgv ?? [],
    renderLimits: { maxOutputBytes: resolveOutputLimits(options.maxOutput), allowScripts: options.scripts === 'on' },
    warmUp,
    // The worker's settled readings are what the leak detector samples: as often as it samples, but
    // never more than once a second (a reading costs ~30 ms of the worker's time; a faster
    // --leak-interval reads the same reading again).
    settleEveryMs: Math.max(options.leakIntervalMs, MIN_SETTLE_EVERY_MS),
  });
  // Fair use: one client may hold this share of the workers' time while others wait (an API key: its own share).
  // Per replica: it shares out this replica's workers among the clients waiting for them (docs/OPERATIONS.md).
  const budget =
    options.clientBudgetPercent > 0 || (apiKeys?.entries().some((key) => (key.budgetPercent ?? 0) > 0) ?? false)
      ? new ClientBudget({ budgetMs: budgetMsOf(options.clientBudgetPercent, options), windowMs: options.clientBudgetWindowMs })
      : undefined;
  const cache =
    options.renderCacheMb > 0 ? new RenderCache({ maxBytes: options.renderCacheMb * 1024 * 1024, ttlMs: options.renderCacheTtlSeconds * 1000 }) : undefined;
  if (budget) pool.on('task', (event) => event.tag !== undefined && budget.charge(event.tag, event.renderMs));
  // A store that cannot be opened costs the stored-chart routes (503), never /chart.
  const { store, error: storeError } = openChartStore(options);
  let purgeTimer: NodeJS.Timeout | undefined;
  let warmUpTimer: NodeJS.Timeout | undefined;
  let app: FastifyInstance | undefined;
  let admin: FastifyInstance | undefined;
  let leakMonitor: LeakMonitor | undefined;
  let metrics: ServiceMetrics | undefined;
  let draining = false;
  const isDraining = () => draining;
  try {
    metrics = createServiceMetrics({
      pool,
      leakStates: () => leakMonitor?.states() ?? [],
      connections: () => (app ? connectionStatsOf(app.server) : undefined),
      renderCache: () => cache?.stats(),
      version: CHARTD_VERSION,
    });
    app = await buildApp({ options, pool, budget, cache, store, observeRequest: metrics.observeRequest, observeSend: metrics.observeSend, countDroppedAnswer: metrics.countDroppedAnswer, draining: isDraining, apiKeys, onRateLimitStoreError: metrics.countRateLimitStoreError });
    const log = app.log;
    if (storeError) log.error({ err: storeError, store: store.description }, 'the chart store could not be opened: /chart/create and /chart/render answer 503 STORE_UNAVAILABLE');
    else log.info({ store: store.description }, 'chart store open');
    purgeTimer = setInterval(() => {
      store.deleteExpired().then(
        (dropped) => dropped > 0 && log.debug({ dropped }, 'expired stored charts dropped'),
        (error: unknown) => log.warn({ err: error }, 'dropping expired stored charts failed'),
      );
    }, Math.min(STORE_PURGE_INTERVAL_MS, options.chartTtlSeconds * 1000));
    purgeTimer.unref();
    logPoolEvents(pool, log);
    if (!(await pool.ready(internals.readyTimeoutMs))) log.warn('render workers are still starting; serving anyway (/readyz follows the workers)');
    leakMonitor = new LeakMonitor({
      pool,
      log,
      adminUrl: () => addressUrl(admin, options.adminHost),
      options: {
        windowMs: options.leakWindowMs,
        intervalMs: options.leakIntervalMs,
        thresholdPerHour: options.leakThresholdPercent / 100,
        minSamples: LEAK_DETECTOR_DEFAULTS.minSamples,
        minSpanMs: LEAK_DETECTOR_DEFAULTS.minSpanMs,
        minBytesPerHour: LEAK_DETECTOR_DEFAULTS.minBytesPerHour,
        recycleWorkers: options.leakRecycle === 'on',
        warmUpMs: warmUp.ms,
        warmUpRenders: warmUp.renders,
      },
      onFault: () => metrics?.countInternalError('timer'),
    });
    admin = await buildAdminApp({ options, pool, metrics, leakMonitor, publicServer: app.server, renderCache: cache, logger: log, draining: isDraining });
    await admin.listen({ port: options.adminPort, host: options.adminHost });
    await app.listen({ port: options.port, host: options.host });
    leakMonitor.start();
    // The main process's own marks for `/debug/pprof/heap?since=warmup` (it renders nothing: time only).
    await markHeapProfile('ready', { heldMs: warmUp.heldMs }).catch(() => undefined);
    warmUpTimer = setTimeout(() => void markHeapProfile('warmup').catch(() => undefined), warmUp.ms);
    warmUpTimer.unref();
  } catch (error) {
    leakMonitor?.close();
    clearInterval(purgeTimer);
    clearTimeout(warmUpTimer);
    await Promise.allSettled([app?.close(), admin?.close()]);
    await pool.destroy();
    await store.close();
    throw error;
  }
  const publicApp = app;
  const adminApp = admin;
  const monitor = leakMonitor;
  const serviceMetrics = metrics;

  let closing: Promise<void> | undefined;
  let shuttingDown: Promise<void> | undefined;
  let endDelay: (() => void) | undefined;
  const close = () => {
    draining = true;
    endDelay?.();
    closing ??= (async () => {
      publicApp.log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'shutting down: draining accepted requests');
      monitor.close();
      // A connection that never sends a request is not "idle" to Node and would
      // hold close() forever: cut everything once the drain time is over.
      const cut = setTimeout(() => publicApp.server.closeAllConnections(), options.drainTimeoutMs + CLOSE_GRACE_MS);
      cut.unref();
      try {
        // Both at once: the server stops accepting and waits for its requests,
        // which wait on the pool, which refuses new jobs and drains the accepted ones.
        await Promise.all([publicApp.close(), pool.close()]);
      } finally {
        clearTimeout(cut);
        clearInterval(purgeTimer);
        clearTimeout(warmUpTimer);
        adminApp.server.closeAllConnections();
        await adminApp.close();
        // Last: requests that were draining may still have been storing or reading charts.
        await store.close();
      }
    })();
    return closing;
  };
  return {
    app: publicApp,
    admin: adminApp,
    pool,
    store,
    leakMonitor: monitor,
    metrics: serviceMetrics,
    url: addressUrl(publicApp, options.host),
    adminUrl: addressUrl(adminApp, options.adminHost),
    close,
    shutdown() {
      shuttingDown ??= (async () => {
        draining = true;
        if (options.drainDelayMs > 0 && !closing) {
          publicApp.log.info({ drainDelayMs: options.drainDelayMs }, 'draining: /readyz fails; serving on until load balancers have noticed');
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.drainDelayMs);
            endDelay = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        await close();
      })();
      return shuttingDown;
    },
    [Symbol.asyncDispose]: close,
  };
}

function addressUrl(app: FastifyInstance | undefined, host: string): string {
  const address = app?.server.address();
  return formatUrl(host, typeof address === 'object' && address ? address.port : 0);
}

function formatUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/** The pool's events as log lines: restarts, crashes with their cause and stderr, worker output, faults. */
function logPoolEvents(pool: RenderPool, log: FastifyBaseLogger): void {
  pool.on('restart', (reason, worker) => log.info({ reason, ...worker }, 'render worker replaced'));
  pool.on('workerExit', (exit) => {
    const fields = { slot: exit.slot, workerId: exit.workerId, pid: exit.pid, code: exit.code, signal: exit.signal, renders: exit.stats.renders };
    if (exit.expected) log.debug(fields, `render worker ${exit.cause}`);
    else log.error({ ...fields, stderr: exit.stderrTail?.slice(-4000) }, `render worker ${exit.slot} ${exit.cause}`);
  });
  pool.on('workerOutput', ({ slot, pid, stream, line }) => log.warn({ slot, pid, stream }, `worker ${slot}: ${line}`));
  pool.on('fault', (where, error) => log.error({ err: error, where }, `render pool: ${where} failed`));
}
