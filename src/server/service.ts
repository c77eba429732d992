import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ServiceOptions } from '../options.js';
import { createRenderPool, type RenderPool } from '../pool/render-pool.js';
import { buildApp } from './app.js';

export const CHARTD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface RunningService {
  app: FastifyInstance;
  pool: RenderPool;
  /** http://host:port of the public listener. */
  url: string;
  /** Stops accepting, lets accepted requests finish (bounded by drainTimeoutMs), ends the workers. Idempotent. */
  close(): Promise<void>;
}

/** Starts the pool and the public listener. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const pool = createRenderPool({
    workers: options.workers,
    maxQueue: options.queue,
    timeoutMs: options.timeoutMs,
    drainTimeoutMs: options.drainTimeoutMs,
    maxRendersPerWorker: options.maxRendersPerWorker,
    workerMemoryBudgetBytes: options.workerMemoryMb * 1024 * 1024,
    workerHeapLimitMb: options.workerHeapMb,
  });
  let app: FastifyInstance;
  try {
    app = await buildApp({ options, pool, version: CHARTD_VERSION });
    pool.on('restart', (reason: string, workerId: number) => app.log.info({ reason, workerId }, 'render worker restarted'));
    await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    await pool.destroy();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      app.log.info({ drainTimeoutMs: options.drainTimeoutMs }, 'shutting down: draining accepted requests');
      // Both at once: the server stops accepting and waits for its requests,
      // which wait on the pool, which refuses new jobs and drains the accepted ones.
      await Promise.all([app.close(), pool.close()]);
    })();
    return closing;
  };
  return { app, pool, url: `http://${host}:${port}`, close };
}
