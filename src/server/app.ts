import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { ChartdError } from '../errors.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { ServiceOptions } from '../options.js';
import { resolveMaxConnections } from '../options.js';
import { agreeing, clientOf, identify, requestKey, setBodyWithoutKey, stripBodyKey, type ApiKeys } from './api-keys.js';
import type { ClientBudget } from './client-budget.js';
import { openRateLimitStore, throttledLog } from './rate-limit-stores.js';
import type { RenderCache } from './render-cache.js';
import { handleClientError } from './client-error.js';
import { guardConnections, isRefusedConnection } from './connection-guard.js';
import { fromFastifyError, sendError } from './error-reply.js';
import { registerChartRoutes } from './routes/chart.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerStoredChartRoutes } from './routes/stored-charts.js';
import type { ChartStore } from '../store/chart-store.js';
import { parseQueryString } from './query-string.js';
import { createSignatureGate, registerSignatureGate } from './signature-gate.js';
import { roundTo } from '../values.js';

/** What a request did, for the one log line it gets and for metrics. */
export interface RequestState {
  queueWaitMs?: number;
  renderMs?: number;
  format?: string;
  /** chartjs2, chartjs3, chartjs4 or qrcode. */
  engine?: string;
  /** Whether the render cache had the image; absent when the cache is off. */
  cache?: 'hit' | 'miss';
  /** The name of the API key the request was counted under (never the key). */
  apiKey?: string;
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
  /** API keys (--api-keys); undefined without the option: keys sent are then ignored. */
  apiKeys?: ApiKeys | undefined;
  /** Told of every rate-limit count that failed (a shared store down): the request was admitted uncounted. */
  onRateLimitStoreError?: (store: 'redis' | 'postgres') => void;
  /** Told of every answered request (metrics). */
  observeRequest?: (route: string, method: string, statusCode: number, durationSeconds: number, code: string | undefined) => void;
  /** Told how long each worker answer took to send, from the reply's start to its last byte handed to the socket (metrics). */
  observeSend?: (durationSeconds: number) => void;
  /** True from SIGTERM on: /readyz fails, requests are still served (with Connection: close) until the listener closes. */
  draining?: () => boolean;
}

/** QuickChart URLs carry the whole config in the query string: allow 64 KiB, as QuickChart does. */
const MAX_HEADER_BYTES = 65_536;
const MAX_LOGGED_URL = 200; // characters: a config in a URL can be long and private
const STORED_CHART_ID = /^(\/chart\/render\/[^/?]{6})[^/?]*/;
/** A `key` query parameter (an API key), %-encoded letters included: its value is never logged. */
const KEY_PARAM = /([?&](?:k|%6b)(?:e|%65)(?:y|%79)=)[^&#]*/gi;
/** An x-request-id is echoed and logged only when it looks like one: short, no spaces or control characters. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** How often Node checks arriving requests against headersTimeout and requestTimeout (its default is 30 s). */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** The public HTTP API: /chart, /qr, /gchart, /healthz, /readyz. Nothing operational is served here. */
export async function buildApp({ options, pool, budget, cache, store, observeRequest, observeSend, draining, apiKeys, onRateLimitStoreError }: AppDependencies): Promise<FastifyInstance> {
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
    // Draining: answered, but keep-alive connections (a load balancer's) end with it, so none is idle when the listener closes.
    if (draining?.()) reply.header('Connection', 'close');
    if (pool.closing) {
      reply.header('Connection', 'close');
      const path = request.url.split('?')[0];
      if (path !== '/healthz' && path !== '/readyz') throw new ChartdError('SHUTTING_DOWN', 'chartd is shutting down; retry on another instance');
    }
  });
  // A response its client does not take within --send-timeout is dropped: a client that
  // stops reading must not hold the answer (an 81 MB SVG, say) in memory for ever.
  app.addHook('onSend', async (request, reply) => {
    const response = reply.raw;
    // The send stage of a render (chartd_render_stage_seconds{stage="send"}): answers a worker gave, cache hits not.
    if (observeSend && request.chartd?.renderMs !== undefined) {
      const sendStarted = performance.now();
      response.once('finish', () => observeSend((performance.now() - sendStarted) / 1000));
    }
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
        durationMs: roundTo(reply.elapsedTime, 2),
        ...request.chartd,
      },
      'request completed',
    );
  });

  registerApiKeyHooks(app, apiKeys);
  // The limit of a request's client: its API key's, else --rate-limit; 0 is no limit.
  const rateLimitOf = (request: FastifyRequest) => clientOf(request).apiKey?.rateLimit ?? options.rateLimit;
  if (options.rateLimit > 0 || (apiKeys?.entries().some((key) => (key.rateLimit ?? 0) > 0) ?? false)) {
    const logStoreError = throttledLog((fields, message) => app.log.warn(fields, message));
    const counts = openRateLimitStore(options.store, {
      onError: (kind, error) => {
        onRateLimitStoreError?.(kind);
        logStoreError(kind, error);
      },
    });
    app.addHook('onClose', () => counts.close());
    await app.register(rateLimit, {
      ...counts.plugin,
      // preHandler, not onRequest: an API key may be in the body, which is read by then.
      hook: 'preHandler',
      max: (request: FastifyRequest) => rateLimitOf(request),
      timeWindow: options.rateLimitWindowMs,
      // A client is its API key's name, or its address (IPv6: its /64); namespaced, so the two never meet.
      keyGenerator: (request: FastifyRequest) => {
        const client = clientOf(request);
        return client.apiKey ? client.id : `ip:${normalizeIP(request.ip)}`;
      },
      // Health probes from the orchestrator must never be limited, whatever their query string;
      // nor a client whose limit is 0 (an API key's "rateLimit": 0, or anonymous with --rate-limit 0).
      allowList: (request: FastifyRequest) => {
        const path = request.url.split('?')[0];
        return path === '/healthz' || path === '/readyz' || rateLimitOf(request) === 0;
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

  registerHealthRoutes(app, pool, draining);
  // Signed URLs (--signing-keys, --require-signature): decorated before the routes that read it.
  registerSignatureGate(app, createSignatureGate(options));
  registerChartRoutes(app, { options, pool, budget, cache });
  if (store) registerStoredChartRoutes(app, { options, pool, budget, cache, store });
  return app;
}

/**
 * Who a request is (api-keys.ts): the headers' or query's key is read when the request
 * arrives (a key that is not one of --api-keys is 401 before the body is read), a
 * body's `key` once the body is read (preHandler, before the rate limit). A body's key is
 * taken out of it whether or not keys are configured: it is a credential, never chart
 * data, and never goes to a worker, the render cache key or the chart store.
 */
function registerApiKeyHooks(app: FastifyInstance, apiKeys: ApiKeys | undefined): void {
  app.decorateRequest('chartdClient', null);
  const probe = (request: FastifyRequest) => {
    const path = request.url.split('?')[0];
    return path === '/healthz' || path === '/readyz';
  };
  if (apiKeys) {
    app.addHook('onRequest', async (request) => {
      if (!request.chartd || probe(request)) return;
      const key = requestKey(request);
      if (key === undefined) return;
      request.chartdClient = identify(apiKeys, key);
      request.chartd.apiKey = request.chartdClient.apiKey?.name;
    });
  }
  app.addHook('preHandler', async (request) => {
    const raw = request.body as { kind?: unknown; body?: unknown } | undefined;
    if (!raw || (raw.kind !== 'json' && raw.kind !== 'form') || !Buffer.isBuffer(raw.body)) return;
    const stripped = stripBodyKey(raw.kind, raw.body);
    if (stripped.key === undefined) return;
    setBodyWithoutKey(request, stripped.body);
    if (!apiKeys || stripped.key === '') return;
    const key = agreeing([...(request.chartdClient ? [requestKey(request) ?? ''] : []), stripped.key]) ?? stripped.key;
    request.chartdClient = identify(apiKeys, key);
    request.chartd.apiKey = request.chartdClient.apiKey?.name;
  });
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
  const redacted = url.replace(STORED_CHART_ID, '$1…').replace(KEY_PARAM, '$1…');
  return redacted.length > MAX_LOGGED_URL ? `${redacted.slice(0, MAX_LOGGED_URL)}…` : redacted;
}


