import type { FastifyInstance } from 'fastify';
import type { RenderPool } from '../../pool/render-pool.js';

/**
 * /healthz: the process answers (liveness). /readyz: it should be sent work
 * (readiness), read live from the workers: false until one has reported ready,
 * while draining (from SIGTERM on, through --drain-delay: `draining`), and while saturated.
 */
export function registerHealthRoutes(app: FastifyInstance, pool: RenderPool, draining: () => boolean = () => false): void {
  app.get('/healthz', async (_request, reply) => reply.header('Cache-Control', 'no-store').send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const reason = notReadyReason(pool, draining());
    reply.header('Cache-Control', 'no-store');
    if (reason) return reply.code(503).send({ ready: false, reason });
    return reply.send({ ready: true });
  });
}

export function notReadyReason(pool: RenderPool, draining = false): 'shutting_down' | 'starting' | 'saturated' | undefined {
  if (draining || pool.closing) return 'shutting_down';
  if (pool.readyWorkers === 0) return 'starting';
  if (pool.saturated) return 'saturated';
  return undefined;
}
