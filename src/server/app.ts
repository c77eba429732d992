import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { ChartdError } from '../errors.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { ServiceOptions } from '../options.js';
import { resolveMaxConnections } from '../options.js';
import type { ClientBudget } from './client-budget.js';
import type { RenderCache } from './render-cache.js';
import { handleClientError } from './client-error.js';
import { guardConnections, isRefusedConnection } from './connection-guard.js';
import { fromFastifyError, sendError } from './error-reply.js';
import { registerChartRoutes } from './routes/chart.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerStoredChartRoutes } from './routes/stored-charts.js';
import type { ChartStore } from '../store/chart-store.js';
import { parseQueryString } from './query-string.js';
import { roundMs } from './round-ms.js';

/** What a request did, for the one log line it gets and for metrics. */
export interface RequestState {
  queueWaitMs?: number;
  renderMs?: number;
  format?: string;
  /** chartjs2, chartjs3, chartjs4 or qrcode. */
  engine?: string;
  /** Whether the render cache had the image; absent when the cache is off. */
  cache?: 'hit' | 'miss';
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
  /** Fair use of the workers between clients; undefined when --client-budget is 0. */
  budget?: ClientBudget | undefined;
  /** Images of recent requests; undefined when --render-cache is 0. */
  cache?: RenderCache | undefined;
  /** Stored charts (/chart/create, /chart/render/:id); those routes are absent without one. */
  store?: ChartStore | undefined;
  /** Told of every answered request (metrics). */
  observeRequest?: (route: string, method: string, statusCode: number, durationSeconds: number, code: string | undefined) => void;
}

/** QuickChart URLs carry the whole config in the query string: allow 64 KiB, as QuickChart does. */
const MAX_HEADER_BYTES = 65_536;
const MAX_LOGGED_URL = 200; // characters: a config in a URL can be long and private
const STORED_CHART_ID = /^(\/chart\/render\/[^/?]{6})[^/?]*/;
/** An x-request-id is echoed and logged only when it looks like one: short, no spaces or control characters. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** How often Node checks arriving requests against headersTimeout and requestTimeout (its default is 30 s). */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** The public HTTP API: /chart, /qr, /gchart, /healthz, /readyz. Nothing operational is served here. */
export async function buildApp({ options, pool, budget, cache, store, observeRequest }: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { level: options.logLevel, base: { service: 'chartd' } },
    // One log line per request is written by our own onResponse hook.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (raw: IncomingMessage) => {
      const given = raw.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    trustProxy: toTrustProxy(options.trustProxy),
    // While draining, requests on open connections get chartd's own 503 (below), with a code and Retry-After.
    return503OnClosing: false,
    routerOptions: { querystringParser: parseQueryString },
    clientErrorHandler: handleClientError,
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const server = createServer(
        {
          maxHeaderSize: MAX_HEADER_BYTES,
          headersTimeout: options.headersTimeoutMs,
          requestTimeout: options.requestTimeoutMs,
          keepAliveTimeout: options.keepAliveTimeoutMs,
          connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
        },
        handler,
      );
      guardConnections(server, { maxConnections: resolveMaxConnections(options), maxConnectionsPerClient: options.maxConnectionsPerClient });
      return server;
    },
  });

  app.decorateRequest('chartd', null as unknown as RequestState);
  app.addHook('onRequest', async (request, reply) => {
    if (isRefusedConnection(request.raw.socket)) {
      // The connection guard answered 503 on this socket already.
      reply.hijack();
      request.raw.socket.destroy();
      return;
    }
    request.chartd = {};
    reply.header('x-request-id', request.id);
    if (pool.closing) {
      reply.header('Connection', 'close');
      const path = request.url.split('?')[0];
      if (path !== '/healthz' && path !== '/readyz') throw new ChartdError('SHUTTING_DOWN', 'chartd is shutting down; retry on another instance');
    }
  });
  // A response its client does not take within --send-timeout is dropped: a client that
  // stops reading must not hold the answer (an 81 MB SVG, say) in memory for ever.
  app.addHook('onSend', async (_request, reply) => {
    const response = reply.raw;
    const timer = setTimeout(() => response.destroy(), options.sendTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    response.once('finish', clear);
    response.once('close', clear);
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
      // Health probes from the orchestrator must never be limited, whatever their query string.
      allowList: (request: FastifyRequest) => {
        const path = request.url.split('?')[0];
        return path === '/healthz' || path === '/readyz';
      },
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
  registerChartRoutes(app, { options, pool, budget, cache });
  if (store) registerStoredChartRoutes(app, { options, pool, budget, cache, store });
  return app;
}

/** --trust-proxy as fastify takes it: off, everything, a hop count, or addresses and CIDR ranges. */
function toTrustProxy(value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  const text = value.trim();
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return (_address, hop) => hop < hops;
  }
  return text.split(',').map((part) => part.trim()).filter(Boolean);
}

/** The URL as logged: bounded, and a stored chart's id (the only key to it) cut to a prefix that tells charts apart. */
function truncateUrl(url: string): string {
  const redacted = url.replace(STORED_CHART_ID, '$1…');
  return redacted.length > MAX_LOGGED_URL ? `${redacted.slice(0, MAX_LOGGED_URL)}…` : redacted;
}


