import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ChartdError, toChartdError } from '../../errors.js';
import type { ServiceOptions } from '../../options.js';
import type { RenderPool } from '../../pool/render-pool.js';
import type { RawChartRequest } from '../../render/chart-request.js';
import { isChartId, newChartId, type ChartStore } from '../../store/chart-store.js';
import { CHARTD_VERSION } from '../../version.js';
import { bodyWithoutKey, clientOf, withoutApiKey } from '../api-keys.js';
import type { ClientBudget } from '../client-budget.js';
import { sendError, wantsErrorImage } from '../error-reply.js';
import type { RenderCache } from '../render-cache.js';
import { checkSignedBody, signedQuery } from '../signature-gate.js';
import { renderOnPool, sendImage } from './render-reply.js';

export interface StoredChartRouteDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  store: ChartStore;
  budget?: ClientBudget | undefined;
  cache?: RenderCache | undefined;
}

type StoredBody = Extract<RawChartRequest, { kind: 'json' | 'form' }>;

/** A Host header that can stand in a URL: a name or address and perhaps a port, nothing else. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * QuickChart's short URLs and templates (docs/API.md, "Stored charts and templates"):
 *
 * - POST /chart/create takes the body POST /chart takes, renders it once through
 *   the pool (a config that would fail is refused with the code POST /chart gives,
 *   and nothing is stored), stores the body under a random 128-bit id and answers
 *   `{"success": true, "url": "<base>/chart/render/<id>"}`.
 * - GET /chart/render/:id renders the stored body again through the pool (and the
 *   render cache), with the query's template overrides and image parameters.
 *
 * The store is read and written here in the main process (a lookup by key); the
 * body crosses to a worker as bytes, parsed there as POST /chart's is. A store
 * failure is 503 STORE_UNAVAILABLE on these two routes only.
 */
export function registerStoredChartRoutes(app: FastifyInstance, deps: StoredChartRouteDependencies): void {
  // The client budget is checked by renderOnPool, once the client is known (an API key may be in the body).
  const admit = async (request: FastifyRequest) => {
    const refused = deps.pool.checkAdmission(deps.budget ? clientOf(request).id : undefined);
    if (refused) throw refused;
  };
  app.post('/chart/create', { onRequest: admit }, (request, reply) => handleCreate(request, reply, deps));
  // A wildcard, not `:id`: a parameter past the router's length limit would be its own uncoded 414, and
  // `/chart/render/a/b` a route miss; every path under /chart/render/ is an id, known or not (404 CHART_NOT_FOUND).
  app.get<{ Params: { '*': string } }>('/chart/render/*', (request, reply) => handleRender(request, reply, request.params['*'], deps));
}

async function handleCreate(request: FastifyRequest, reply: FastifyReply, deps: StoredChartRouteDependencies) {
  const { options, store, cache } = deps;
  try {
    const signed = checkSignedBody(request, asStoredBody(request.body));
    // A body's `key` (an API key) is taken out: it is never stored, cached or sent to a worker.
    const body = signed && bodyWithoutKey(request, signed);
    if (!body) throw new ChartdError('CONFIG_MISSING', 'send the chart as a JSON object body {"chart": {...}}, as POST /chart takes it');
    const base = publicBaseUrl(request, options);
    // A full store refuses before the render it would waste.
    await store.checkRoom(body.body.byteLength);
    const outcome = await renderOnPool(request, reply, body, deps, { ifNoneMatch: undefined, errorImage: false });
    if (outcome.type === 'refused') return refuse(request, reply, outcome.error, options);
    if (outcome.type !== 'rendered') throw new ChartdError('INTERNAL', `a validation render answered ${outcome.type}`);
    const id = newChartId();
    await store.put(id, { kind: body.kind, body: Buffer.from(body.body) }, Date.now() + options.chartTtlSeconds * 1000);
    // The URL as created is the request just rendered: its first visit needs no worker.
    cache?.set(storedCacheKey(id, {}), outcome);
    request.chartd.format = outcome.job.format;
    request.chartd.engine = outcome.job.engine;
    return reply.code(200).header('Cache-Control', 'no-store').send({ success: true, url: `${base}/chart/render/${id}` });
  } catch (caught) {
    return refuse(request, reply, toChartdError(caught), options);
  }
}

async function handleRender(request: FastifyRequest, reply: FastifyReply, id: string, deps: StoredChartRouteDependencies) {
  const { options, store, cache, pool } = deps;
  try {
    // A signature is checked before anything is looked up; its parameters are no template values.
    const signed = signedQuery(request);
    // A malformed id is not looked up: it is as unknown as any other.
    const stored = isChartId(id) ? await store.get(id) : undefined;
    if (!stored) throw new ChartdError('CHART_NOT_FOUND', 'no stored chart has this id: it was never created here, or it has expired (--chart-ttl)');
    // Template values are written by URLSearchParams and forms more than by hand: '+' is a space here.
    // `key` (an API key) is never a template parameter: it stays out of the render cache key and the workers.
    const params = withoutApiKey(signed.paramsIfPlusIsSpace ?? signed.params);
    // Never cached by clients past the chart's own expiry.
    const maxAgeSeconds = Math.max(0, Math.min(options.cacheMaxAgeSeconds, Math.floor((stored.expiresAt - Date.now()) / 1000)));
    const cacheKey = cache ? storedCacheKey(id, params) : undefined;
    const cached = cacheKey === undefined ? undefined : cache?.get(cacheKey);
    if (cached) {
      request.chartd.cache = 'hit';
      return sendImage(request, reply, cached, `public, max-age=${maxAgeSeconds}`);
    }
    if (cacheKey !== undefined) request.chartd.cache = 'miss';
    // Admission here rather than onRequest: a cached image needs no worker, whatever the queue
    // (the client budget: renderOnPool).
    const refused = pool.checkAdmission(deps.budget ? clientOf(request).id : undefined);
    if (refused) throw refused;
    const raw: RawChartRequest = { kind: 'stored', chart: { kind: stored.kind, body: stored.body }, params };
    const outcome = await renderOnPool(request, reply, raw, deps, {
      ifNoneMatch: request.headers['if-none-match'],
      errorImage: wantsErrorImage(request, options.errorImages),
    });
    switch (outcome.type) {
      case 'not-modified':
        return reply.code(304).header('ETag', outcome.etag).header('Cache-Control', `public, max-age=${maxAgeSeconds}`).send();
      case 'rendered':
        if (cacheKey !== undefined) cache?.set(cacheKey, outcome);
        return sendImage(request, reply, outcome, `public, max-age=${maxAgeSeconds}`);
      case 'refused':
        return refuse(request, reply, outcome.error, options, outcome.image);
    }
  } catch (caught) {
    return refuse(request, reply, toChartdError(caught), options);
  }
}

function refuse(request: FastifyRequest, reply: FastifyReply, error: ChartdError, options: ServiceOptions, image?: Buffer) {
  request.chartd.code = error.code;
  if (error.code === 'INTERNAL') request.log.error({ err: error }, 'stored chart request failed unexpectedly');
  else if (error.code === 'STORE_UNAVAILABLE') request.log.error({ err: error.cause ?? error }, error.message);
  return sendError(request, reply, error, { errorImages: options.errorImages, image });
}

function asStoredBody(body: unknown): StoredBody | undefined {
  const raw = body as Partial<StoredBody> | undefined;
  return raw && (raw.kind === 'json' || raw.kind === 'form') && raw.body instanceof Uint8Array ? (raw as StoredBody) : undefined;
}

/**
 * The base of a stored chart's URL: --public-url, else this request's protocol
 * (X-Forwarded-Proto counts only from a --trust-proxy peer: fastify's
 * request.protocol) and Host header.
 */
function publicBaseUrl(request: FastifyRequest, options: ServiceOptions): string {
  if (options.publicUrl !== '') return options.publicUrl;
  const host = request.headers.host;
  if (typeof host !== 'string' || !HOST.test(host)) {
    throw new ChartdError('REQUEST_INVALID', 'the request has no usable Host header to build the chart URL from; send one, or start chartd with --public-url');
  }
  return `${request.protocol}://${host}`;
}

/**
 * A stored chart's images in the render cache: its id and the query, in a stable
 * order. An id's body never changes, so the id stands for it; the prefix keeps
 * these keys apart from /chart's (renderCacheKey).
 */
function storedCacheKey(id: string, params: Record<string, string>): string {
  const entries = Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(CHARTD_VERSION).update('\0stored\0').update(id).update('\0').update(JSON.stringify(entries)).digest('base64url');
}
