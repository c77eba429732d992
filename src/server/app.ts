import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { ChartdError } from '../errors.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { ServiceOptions } from '../options.js';
import { handleClientError } from './client-error.js';
import { fromFastifyError, sendError } from './error-reply.js';
import { registerChartRoutes } from './routes/chart.js';
import { registerHealthRoutes } from './routes/health.js';
import { parseQueryString } from './query-string.js';
import { roundMs } from './round-ms.js';

/** What a request did, for the one log line it gets and for metrics. */
export interface RequestState {
  queueWaitMs?: number;
  renderMs?: number;
  format?: string;
  version?: number;
  code?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    chartd: RequestState;
  }
}

export interface AppDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  /** Told of every answered request (metrics). */
  observeRequest?: (route: string, method: string, statusCode: number, durationSeconds: number, code: string | undefined) => void;
}

/** QuickChart URLs carry the whole config in the query string: allow 64 KiB, as QuickChart does. */
const MAX_HEADER_BYTES = 65_536;
const MAX_LOGGED_URL = 200; // characters: a config in a URL can be long and private

/** The public HTTP API: /chart, /healthz, /readyz. Nothing operational is served here. */
export async function buildApp({ options, pool, observeRequest }: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: options.logLevel, base: { service: 'chartd' } },
    // One log line per request is written by our own onResponse hook.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    routerOptions: { querystringParser: parseQueryString },
    clientErrorHandler: handleClientError,
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler),
  });

  app.decorateRequest('chartd', null as unknown as RequestState);
  app.addHook('onRequest', async (request, reply) => {
    request.chartd = {};
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    observeRequest?.(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000, request.chartd.code);
    request.log.info(
      {
        method: request.method,
        url: truncateUrl(request.url),
        statusCode: reply.statusCode,
        durationMs: roundMs(reply.elapsedTime),
        ...request.chartd,
      },
      'request completed',
    );
  });

  if (options.rateLimit > 0) {
    await app.register(rateLimit, {
      max: options.rateLimit,
      timeWindow: options.rateLimitWindowMs,
      // Health probes from the orchestrator must never be limited.
      allowList: (request: FastifyRequest) => request.url === '/healthz' || request.url === '/readyz',
      errorResponseBuilder: (_request, context) => {
        const error = new ChartdError('RATE_LIMITED', `more than ${context.max} requests in ${context.after}; retry later`);
        return Object.assign(error, { retryAfter: context.ttl });
      },
    });
  }

  app.setErrorHandler(async (error, request, reply) => {
    const chartdError = fromFastifyError(error);
    request.chartd.code = chartdError.code;
    if (chartdError.statusCode >= 500 && chartdError.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
    return sendError(request, reply, chartdError, { errorImages: options.errorImages });
  });
  app.setNotFoundHandler(async (request, reply) => {
    const error = new ChartdError('NOT_FOUND', `no route ${request.method} ${truncateUrl(request.url.split('?')[0] ?? '')}`);
    request.chartd.code = error.code;
    return sendError(request, reply, error, { errorImages: 'never' });
  });

  registerHealthRoutes(app, pool);
  registerChartRoutes(app, { options, pool });
  return app;
}

function truncateUrl(url: string): string {
  return url.length > MAX_LOGGED_URL ? `${url.slice(0, MAX_LOGGED_URL)}…` : url;
}


