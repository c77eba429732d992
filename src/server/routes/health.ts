import type { FastifyInstance } from 'fastify';
import type { RenderPool } from '../../pool/render-pool.js';

/**
 * /healthz: the process answers (liveness). /readyz: it should be sent work
 * (readiness): false while workers start, while draining, and while saturated.
 */
export function registerHealthRoutes(app: FastifyInstance, pool: RenderPool): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reason = notReadyReason(pool);
    if (reason) return reply.code(503).header('Cache-Control', 'no-store').send({ ready: false, reason });
    return { ready: true };
  });
}

export function notReadyReason(pool: RenderPool): string | undefined {
  if (pool.closing) return 'shutting_down';
  const { workers } = pool.stats();
  if (!pool.started || !workers.some((worker) => worker.state === 'idle' || worker.state === 'busy')) return 'starting';
  if (pool.saturated) return 'saturated';
  return undefined;
}
