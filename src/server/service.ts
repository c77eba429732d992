import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { watchMajorGc } from '../diagnostics/gc-watch.js';
import { LEAK_DETECTOR_DEFAULTS } from '../diagnostics/leak-detector.js';
import { LeakMonitor } from '../diagnostics/leak-monitor.js';
import { createServiceMetrics } from '../diagnostics/metrics.js';
import { startHeapSampling } from '../diagnostics/profilers.js';
import type { ServiceOptions } from '../options.js';
import { createRenderPool, type RenderPool } from '../pool/render-pool.js';
import { buildAdminApp } from './admin-app.js';
import { buildApp } from './app.js';

export const CHARTD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** After the drain timeout, connections that never sent a request are cut too. */
const CLOSE_GRACE_MS = 1_000;

export interface RunningService {
  app: FastifyInstance;
  admin: FastifyInstance;
  pool: RenderPool;
  leakMonitor: LeakMonitor;
  /** http://host:port of the public listener. */
  url: string;
  /** http://host:port of the admin listener. */
  adminUrl: string;
  /** Stops accepting, lets accepted requests finish (bounded by drainTimeoutMs), ends the workers. Idempotent. */
  close(): Promise<void>;
}

/** Starts the pool, the public listener and the admin listener. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  watchMajorGc();
  await startHeapSampling();
  const pool = createRenderPool({
    workers: options.workers,
    maxQueue: options.queue,
    timeoutMs: options.timeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
    maxRendersPerWorker: options.maxRendersPerWorker,
    workerMemoryBudgetBytes: options.workerMemoryMb * 1024 * 1024,
    workerHeapLimitMb: options.workerHeapMb,
  });
  let app: FastifyInstance | undefined;
  let admin: FastifyInstance | undefined;
  let leakMonitor: LeakMonitor | undefined;
  try {
    const metrics = createServiceMetrics({ pool, leakStates: () => leakMonitor?.states() ?? [], version: CHARTD_VERSION });
    app = await buildApp({ options, pool, version: CHARTD_VERSION, observeRequest: metrics.observeRequest });
    const log = app.log;
    pool.on('restart', (reason: string, workerId: number) => log.info({ reason, workerId }, 'render worker restarted'));
    if (!(await pool.ready())) log.warn('render workers are still starting after 30 s; serving anyway (/readyz says starting)');
    leakMonitor = new LeakMonitor({
      pool,
      log,
      adminUrl: () => addressUrl(admin, options.adminHost),
      options: {
        windowMs: options.leakWindowMs,
        intervalMs: options.leakIntervalMs,
        thresholdPerHour: options.leakThresholdPercent / 100,
        minSamples: LEAK_DETECTOR_DEFAULTS.minSamples,
        minCoverage: LEAK_DETECTOR_DEFAULTS.minCoverage,
        minBytesPerHour: LEAK_DETECTOR_DEFAULTS.minBytesPerHour,
        recycleWorkers: options.leakRecycle === 'on',
      },
    });
    admin = await buildAdminApp({ options, pool, metrics, leakMonitor, publicServer: app.server, logger: log });
    await admin.listen({ port: options.adminPort, host: options.adminHost });
    await app.listen({ port: options.port, host: options.host });
    leakMonitor.start();
  } catch (error) {
    leakMonitor?.stop();
    await Promise.allSettled([app?.close(), admin?.close()]);
    await pool.destroy();
    throw error;
  }
  const publicApp = app;
  const adminApp = admin;
  const monitor = leakMonitor;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      publicApp.log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'shutting down: draining accepted requests');
      monitor.stop();
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
        adminApp.server.closeAllConnections();
        await adminApp.close();
      }
    })();
    return closing;
  };
  return {
    app: publicApp,
    admin: adminApp,
    pool,
    leakMonitor: monitor,
    url: addressUrl(publicApp, options.host),
    adminUrl: addressUrl(adminApp, options.adminHost),
    close,
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
