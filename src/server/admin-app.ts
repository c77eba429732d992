import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ChartdError } from '../errors.js';
import type { ServiceOptions } from '../options.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { LeakMonitor } from '../diagnostics/leak-monitor.js';
import type { ServiceMetrics } from '../diagnostics/metrics.js';
import type { RenderCache } from './render-cache.js';
import { frameworkErrorHandler, fromFastifyError, sendError } from './error-reply.js';
import { missingHost } from './host-header.js';
import { registerCaptureRoutes } from './routes/admin-captures.js';
import { registerWorkerRoutes } from './routes/admin-workers.js';
import { registerHealthRoutes } from './routes/health.js';

export interface AdminDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  metrics: ServiceMetrics;
  leakMonitor: LeakMonitor;
  /** The public server, for the open-sockets count. */
  publicServer: Server;
  renderCache?: RenderCache | undefined;
  logger: FastifyBaseLogger;
  /** True from SIGTERM on (/readyz fails here too). */
  draining?: () => boolean;
}

const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/readyz']);

/**
 * The admin listener (docs/OPERATIONS.md): metrics, profiles, heap snapshots,
 * the resources page and worker controls. Loopback by default; a bearer token is
 * required when it listens anywhere else (checked by options validation).
 */
export async function buildAdminApp(deps: AdminDependencies): Promise<FastifyInstance> {
  const { options, pool, metrics, leakMonitor } = deps;
  const app = Fastify({
    loggerInstance: deps.logger.child({ listener: 'admin' }),
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: frameworkErrorHandler('never'),
    // As on the public listener: a request without Host gets chartd's coded 400 (below), not Node's bare one.
    serverFactory: (handler) => createServer({ requireHostHeader: false }, handler),
  });
  const errorOptions = { errorImages: 'never' as const };

  app.addHook('onRequest', async (request, reply) => {
    const refusal = missingHost(request.raw);
    if (refusal) {
      reply.header('Connection', 'close');
      throw refusal;
    }
  });

  if (options.adminToken) {
    const expected = Buffer.from(`Bearer ${options.adminToken}`);
    app.addHook('onRequest', async (request, reply) => {
      if (UNAUTHENTICATED_PATHS.has(request.url.split('?')[0]!)) return;
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        reply.header('WWW-Authenticate', 'Bearer realm="chartd-admin"');
        return sendError(request, reply, new ChartdError('UNAUTHORIZED', 'the admin port needs "Authorization: Bearer <CHARTD_ADMIN_TOKEN>"'), errorOptions);
      }
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, statusCode: reply.statusCode, durationMs: Math.round(reply.elapsedTime) }, 'admin request');
  });
  app.setErrorHandler(async (error, request, reply) => sendError(request, reply, fromFastifyError(error), errorOptions));
  app.setNotFoundHandler(async (request, reply) =>
    sendError(request, reply, new ChartdError('NOT_FOUND', `no admin route ${request.method} ${request.url.split('?')[0]}`), errorOptions),
  );

  registerHealthRoutes(app, pool, deps.draining);

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  registerCaptureRoutes(app, pool);
  registerWorkerRoutes(app, { pool, leakMonitor, publicServer: deps.publicServer, renderCache: deps.renderCache });

  return app;
}
