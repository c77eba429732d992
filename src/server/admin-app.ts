import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Server } from 'node:net';
import type { Readable } from 'node:stream';
import { getHeapSnapshot } from 'node:v8';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ChartdError } from '../errors.js';
import type { ServiceOptions } from '../options.js';
import type { RenderPool } from '../pool/render-pool.js';
import { CaptureGate } from '../diagnostics/capture-gate.js';
import type { LeakMonitor } from '../diagnostics/leak-monitor.js';
import type { ServiceMetrics } from '../diagnostics/metrics.js';
import { captureCpuProfile, captureHeapProfile } from '../diagnostics/profilers.js';
import { describeResources } from '../diagnostics/resources.js';
import type { RenderCache } from './render-cache.js';
import { fromFastifyError, sendError } from './error-reply.js';
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
}

const MAX_PROFILE_SECONDS = 60;
const UNAUTHENTICATED_PATHS = new Set(['/healthz', '/readyz']);

/**
 * The admin listener (docs/OPERATIONS.md): metrics, profiles, heap snapshots,
 * the resources page and worker controls. Loopback by default; a bearer token is
 * required when it listens anywhere else (checked by options validation).
 */
export async function buildAdminApp(deps: AdminDependencies): Promise<FastifyInstance> {
  const { options, pool, metrics, leakMonitor } = deps;
  const app = Fastify({ loggerInstance: deps.logger.child({ listener: 'admin' }), logController: new LogController({ disableRequestLogging: true }) });
  const gate = new CaptureGate();
  const errorOptions = { errorImages: 'never' as const };

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

  registerHealthRoutes(app, pool);

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.get('/debug/pprof/heap', async (request, reply) => {
    const worker = parseWorker(request, pool);
    const profile = worker === undefined ? await captureHeapProfile() : await pool.captureProfile(worker, 'heap-profile');
    return sendProfile(reply, profile, `heap-${threadName(worker)}.pb.gz`);
  });

  app.get('/debug/pprof/profile', async (request, reply) => {
    const worker = parseWorker(request, pool);
    const seconds = parseSeconds(request);
    const profile = await gate.run(`CPU profile of ${threadName(worker)}`, () =>
      worker === undefined ? captureCpuProfile(seconds) : pool.captureProfile(worker, 'cpu-profile', seconds),
    );
    return sendProfile(reply, profile, `cpu-${threadName(worker)}.pb.gz`);
  });

  app.get('/debug/heapsnapshot', async (request, reply) => {
    const worker = parseWorker(request, pool);
    let release!: () => void;
    gate.hold(`heap snapshot of ${threadName(worker)}`, new Promise<void>((resolve) => (release = resolve)));
    let stream: Readable;
    try {
      if (worker === undefined) stream = getHeapSnapshot();
      else {
        // Written by the worker process to a private file, then streamed from disk:
        // a slow client holds a file descriptor, not the worker or its memory.
        const file = await pool.captureHeapSnapshot(worker);
        stream = createReadStream(file.path);
        reply.header('Content-Length', String(file.sizeBytes));
        stream.once('close', () => void file.remove());
      }
    } catch (error) {
      release();
      throw error;
    }
    // The gate holds until the last byte is read out (one snapshot file at a time,
    // even for a client that never reads), not until the socket closes.
    stream.once('end', release);
    stream.once('close', release);
    stream.once('error', release);
    request.log.warn({ thread: threadName(worker) }, 'heap snapshot taken: it contains every secret in memory, handle it so');
    return reply
      .type('application/json')
      .header('Content-Disposition', `attachment; filename="chartd-${threadName(worker)}-${Date.now()}.heapsnapshot"`)
      .header('Cache-Control', 'no-store')
      .send(stream);
  });

  app.get('/debug/resources', async () =>
    describeResources({ pool, leakMonitor, servers: { public: deps.publicServer, admin: app.server }, renderCache: deps.renderCache?.stats() }),
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

  return app;
}

function sendProfile(reply: FastifyReply, profile: Buffer, filename: string): FastifyReply {
  return reply
    .type('application/octet-stream')
    .header('Content-Disposition', `attachment; filename="${filename}"`)
    .header('Cache-Control', 'no-store')
    .send(profile);
}

function threadName(worker: number | undefined): string {
  return worker === undefined ? 'main' : `worker-${worker}`;
}

function parseWorker(request: FastifyRequest, pool: RenderPool): number | undefined {
  const value = (request.query as Record<string, string | undefined>).worker;
  return value === undefined || value === '' ? undefined : parseWorkerParam(value, pool);
}

function parseWorkerParam(value: string, pool: RenderPool): number {
  const worker = Number(value);
  if (!Number.isInteger(worker) || worker < 0 || worker >= pool.options.workers) {
    throw new ChartdError('PARAM_INVALID', `worker must be an integer from 0 to ${pool.options.workers - 1}, got "${value}"`);
  }
  return worker;
}

function parseSeconds(request: FastifyRequest): number {
  const value = (request.query as Record<string, string | undefined>).seconds;
  if (value === undefined || value === '') return 10;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PROFILE_SECONDS) {
    throw new ChartdError('PARAM_INVALID', `seconds must be an integer from 1 to ${MAX_PROFILE_SECONDS}, got "${value}"`);
  }
  return seconds;
}
