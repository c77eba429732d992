import type { Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { LeakMonitor } from '../../diagnostics/leak-monitor.js';
import { describeResources } from '../../diagnostics/resources.js';
import { ChartdError } from '../../errors.js';
import type { RenderPool } from '../../pool/render-pool.js';
import type { RenderCache } from '../render-cache.js';
import { parseWorker, parseWorkerParam } from './admin-captures.js';

/** The admin port's view of the workers (the resources page) and its controls over them (recycle, terminate). */
export function registerWorkerRoutes(
  app: FastifyInstance,
  deps: { pool: RenderPool; leakMonitor: LeakMonitor; publicServer: Server; renderCache?: RenderCache | undefined },
): void {
  const { pool, leakMonitor } = deps;
  app.get('/debug/resources', async (request) =>
    describeResources({
      pool,
      leakMonitor,
      servers: { public: deps.publicServer, admin: app.server },
      renderCache: deps.renderCache?.stats(),
      worker: parseWorker(request, pool),
    }),
  );

  app.post('/debug/workers/:worker/recycle', async (request, reply) => {
    const worker = parseWorkerParam((request.params as { worker: string }).worker, pool);
    if (!pool.recycleWorker(worker)) throw new ChartdError('NOT_FOUND', `worker ${worker} is being replaced; retry in a moment`);
    return reply.code(202).send({ worker, action: 'recycle', message: 'the worker is replaced once its current render (if any) completes' });
  });

  app.post('/debug/workers/:worker/terminate', async (request, reply) => {
    const worker = parseWorkerParam((request.params as { worker: string }).worker, pool);
    if (!pool.terminateWorker(worker)) throw new ChartdError('NOT_FOUND', `worker ${worker} is being replaced; retry in a moment`);
    return reply.code(202).send({ worker, action: 'terminate', message: 'the worker process was killed (SIGKILL); a render it was running fails with WORKER_CRASHED' });
  });
}
