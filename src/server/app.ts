import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { ChartdError } from '../errors.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { ServiceOptions } from '../options.js';
import { resolveConnectionCap } from '../options.js';
import { agreeing, clientOf, identify, requestKey, setBodyWithoutKey, stripBodyKey, type ApiKeys } from './api-keys.js';
import type { ClientBudget } from './client-budget.js';
import { openRateLimitStore, throttledLog } from './rate-limit-stores.js';
import type { RenderCache } from './render-cache.js';
import { handleClientError } from './client-error.js';
import { keepAddressHops } from './forwarded-for.js';
import { guardConnections, isRefusedConnection } from './connection-guard.js';
import { frameworkErrorHandler, fromFastifyError, sendError } from './error-reply.js';
import { missingHost } from './host-header.js';
import { writeRawError } from './raw-error.js';
import { registerChartRoutes } from './routes/chart.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerStoredChartRoutes } from './routes/stored-charts.js';
import type { ChartStore } from '../store/chart-store.js';
import { parseQueryString } from './query-string.js';
import { createSignatureGate, registerSignatureGate } from './signature-gate.js';
import { roundTo } from '../values.js';
import { DroppedAnswers, type DropReason } from './dropped-answers.js';

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
  /** An answer that never reached its client: dropped at --send-timeout, or its client left first. */
  countDroppedAnswer?: (reason: DropReason, bytes: number) => void;
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
export async function buildApp({ options, pool, budget, cache, store, observeRequest, observeSend, countDroppedAnswer, draining, apiKeys, onRateLimitStoreError }: AppDependencies): Promise<FastifyInstance> {
  const connectionCap = resolveConnectionCap(options);
  /** Every request's one log line and its count in chartd_requests_total. */
  const completeRequest = (request: FastifyRequest, reply: FastifyReply): void => {
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
  };
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
    // A bad percent-escape in the path, a path parameter too long: chartd's codes, not fastify's FST_ERR_*.
    // Fastify runs no hooks for these: the request's one log line and its count are written when the answer is sent.
    frameworkErrors: frameworkErrorHandler(options.errorImages, (request, reply) => reply.raw.once('finish', () => completeRequest(request, reply))),
    serverFactory: (fastifyHandler: (req: IncomingMessage, res: ServerResponse) => void) => {
      const trusting = toTrustProxy(options.trustProxy) !== false;
      const handler = trusting
        ? (req: IncomingMessage, res: ServerResponse) => {
            keepAddressHops(req);
            fastifyHandler(req, res);
          }
        : fastifyHandler;
      const server = createServer(
        {
          maxHeaderSize: MAX_HEADER_BYTES,
          headersTimeout: options.headersTimeoutMs,
          requestTimeout: options.requestTimeoutMs,
          keepAliveTimeout: options.keepAliveTimeoutMs,
          connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
          // Node answers a missing Host with a bare 400 and no body; chartd checks it itself (onRequest), with a code.
          requireHostHeader: false,
        },
        handler,
      );
      answerExpectAndConnect(server, handler, options.bodyLimitBytes);
      guardConnections(server, { maxConnections: connectionCap.maxConnections, maxConnectionsPerClient: options.maxConnectionsPerClient });
      return server;
    },
  });

  if (connectionCap.requested !== undefined) {
    app.log.warn(
      { requested: connectionCap.requested, maxConnections: connectionCap.maxConnections, openFilesLimit: connectionCap.openFilesLimit },
      `--max-connections ${connectionCap.requested} is more than the open-files limit (${connectionCap.openFilesLimit}) leaves room for: using ${connectionCap.maxConnections}, as auto would; raise ulimit -n to allow more`,
    );
  }
  const droppedAnswers = new DroppedAnswers({
    onDropped: countDroppedAnswer,
    onError: (error) => app.log.warn({ err: error }, 'collecting the memory of dropped answers failed'),
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
    const refusal = protocolRefusal(request.raw);
    if (refusal) {
      // Its body, if any, is never read: the connection cannot carry another request.
      reply.header('Connection', 'close');
      throw refusal;
    }
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
    // Read from the reply: fastify writes its headers to the raw response in one writeHead, which keeps none.
    watchSend(response, options.sendTimeoutMs, Number(reply.getHeader('content-length') ?? 0), droppedAnswers);
  });
  app.addHook('onClose', async () => droppedAnswers.close());
  app.addHook('onResponse', async (request, reply) => completeRequest(request, reply));

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

const EXPECTATION = Symbol('chartd.expectation');

/**
 * `Expect` and `CONNECT`, which Node answers itself (or not at all) unless told otherwise:
 * - `Expect: 100-continue` with a Content-Length over --body-limit gets no 100 Continue
 *   (which would invite the upload): the request goes to the app, which answers 413
 *   BODY_TOO_LARGE from the header alone, and the connection closes. Under the limit, 100 and on.
 * - any other `Expect` is 417 EXPECTATION_FAILED in chartd's shape (Node's has no body).
 * - `CONNECT` (chartd is not a proxy) is 400 REQUEST_INVALID, and the socket is closed.
 */
function answerExpectAndConnect(server: Server, handler: (req: IncomingMessage, res: ServerResponse) => void, bodyLimitBytes: number): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > bodyLimitBytes) res.shouldKeepAlive = false;
    else res.writeContinue();
    handler(req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    (req as IncomingMessage & { [EXPECTATION]?: string })[EXPECTATION] = String(req.headers.expect ?? '');
    res.shouldKeepAlive = false;
    handler(req, res);
  });
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => undefined);
    writeRawError(socket, new ChartdError('REQUEST_INVALID', `CONNECT is not supported: chartd is not a proxy (got CONNECT ${String(req.url).slice(0, 100)})`));
  });
}

/** A request chartd refuses for its HTTP alone: an HTTP/1.1 request without Host, an `Expect` other than 100-continue. */
function protocolRefusal(raw: IncomingMessage): ChartdError | undefined {
  const expectation = (raw as IncomingMessage & { [EXPECTATION]?: string })[EXPECTATION];
  if (expectation !== undefined) {
    return new ChartdError('EXPECTATION_FAILED', `Expect: ${expectation.slice(0, 64)} is not supported; only Expect: 100-continue is`);
  }
  return missingHost(raw);
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

/**
 * Drops the connection of a response its client has not taken within `timeoutMs`,
 * and reports an answer that never reached its client (dropped here, or its
 * client left) to `dropped`. A response whose socket is destroyed under it still
 * emits 'finish' (with writableFinished true): a destroyed socket is what tells.
 * Listeners come off the socket when the response ends: a keep-alive socket
 * serves many responses.
 */
function watchSend(response: ServerResponse, timeoutMs: number, bytes: number, dropped: DroppedAnswers): void {
  const socket = response.socket;
  if (!socket) return;
  let ended = false;
  let timedOut = false;
  const end = (delivered: boolean) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    socket.off('close', onClose);
    if (!delivered) dropped.dropped(bytes, timedOut ? 'send_timeout' : 'client_gone');
  };
  const onClose = () => end(false);
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, timeoutMs);
  timer.unref();
  socket.on('close', onClose);
  response.once('finish', () => end(!socket.destroyed));
}
