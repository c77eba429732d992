import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ChartdError, toChartdError } from '../../errors.js';
import type { ServiceOptions } from '../../options.js';
import type { RenderPool } from '../../pool/render-pool.js';
import type { RawChartRequest } from '../../render/chart-request.js';
import { CHARTD_VERSION } from '../../version.js';
import { bodyWithoutKey, clientOf, withoutApiKey } from '../api-keys.js';
import type { ClientBudget } from '../client-budget.js';
import { sendError, wantsErrorImage } from '../error-reply.js';
import { renderCacheKey, type RenderCache } from '../render-cache.js';
import { checkSignedBody, signedQuery } from '../signature-gate.js';
import { renderOnPool, sendImage } from './render-reply.js';

interface ChartRouteDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  budget?: ClientBudget | undefined;
  cache?: RenderCache | undefined;
}

/**
 * GET /chart and POST /chart, GET /qr and GET /gchart: QuickChart's API (docs/API.md). The main process
 * only moves bytes: admission is decided before the body is read, and the raw
 * query or body goes to a worker, which parses, validates, renders and draws
 * error images. A hostile config costs a worker's time, never this event loop's.
 * A request whose image is in the render cache is answered here, without a worker.
 */
export function registerChartRoutes(app: FastifyInstance, deps: ChartRouteDependencies): void {
  // Bodies stay bytes here: the workers parse them (src/render/chart-request.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, { kind: 'json', body }));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, { kind: 'form', body }),
  );
  // A GET whose image is cached is admitted even when the queue is full: it needs no worker.
  const admit = (readQuery?: (request: FastifyRequest) => RawChartRequest) => async (request: FastifyRequest) => {
    if (readQuery && deps.cache?.has(renderCacheKey(readQuery(request), CHARTD_VERSION))) return;
    // The client budget is checked by renderOnPool, once the client is known (an API key may be in the body).
    // The client as known so far (an API key in the body is read later): a full queue may make room for it.
    const refused = deps.pool.checkAdmission(deps.budget ? clientOf(request).id : undefined);
    if (refused) throw refused;
  };
  app.get('/chart', { onRequest: admit(readChartQuery) }, (request, reply) => handleChart(request, reply, readChartQuery(request), deps));
  app.post('/chart', { onRequest: admit() }, (request, reply) => handleChart(request, reply, checkSignedBody(request, asRawBody(request.body)), deps));
  app.get('/qr', { onRequest: admit(readQrQuery) }, (request, reply) => handleChart(request, reply, readQrQuery(request), deps));
  app.get('/gchart', { onRequest: admit(googleChartQuery) }, (request, reply) => handleChart(request, reply, googleChartQuery(request), deps));
}

function readQrQuery(request: FastifyRequest): RawChartRequest {
  // `key` (an API key, api-keys.ts) is never a chart parameter: it stays out of the render cache key and the workers.
  return { kind: 'qr', params: withoutApiKey(signedQuery(request).params) };
}

/** GET /chart: a Chart.js config, or (with `cht`) a Google Image Charts URL, as QuickChart tells them apart. */
function readChartQuery(request: FastifyRequest): RawChartRequest {
  // The query without its signature parameters (sig, accountId, exp, signature), verified when signed.
  const { params, paramsIfPlusIsSpace } = signedQuery(request);
  if (Object.hasOwn(params, 'cht')) return googleChartQuery(request);
  return { kind: 'query', params: withoutApiKey(params), paramsIfPlusIsSpace: withoutApiKey(paramsIfPlusIsSpace) };
}

/** Google's chart URLs write spaces as '+' (chtt=Monthly+sales): read the query that way. */
function googleChartQuery(request: FastifyRequest): RawChartRequest {
  const { params, paramsIfPlusIsSpace } = signedQuery(request);
  return { kind: 'gchart', params: withoutApiKey(paramsIfPlusIsSpace ?? params) };
}

function asRawBody(body: unknown): RawChartRequest | undefined {
  const raw = body as Partial<RawChartRequest> | undefined;
  return raw && (raw.kind === 'json' || raw.kind === 'form') ? (raw as RawChartRequest) : undefined;
}

async function handleChart(request: FastifyRequest, reply: FastifyReply, raw: RawChartRequest | undefined, deps: ChartRouteDependencies) {
  const { options, cache } = deps;
  const cacheControl = `public, max-age=${options.cacheMaxAgeSeconds}`;
  try {
    if (!raw) throw new ChartdError('CONFIG_MISSING', 'send the chart as query parameters, or as a JSON object body {"chart": {...}}');
    // A body's `key` (an API key) is taken out before the cache key and the worker see the body.
    raw = bodyWithoutKey(request, raw);
    const cacheKey = cache ? renderCacheKey(raw, CHARTD_VERSION) : undefined;
    const cached = cacheKey === undefined ? undefined : cache?.get(cacheKey);
    if (cached) {
      request.chartd.cache = 'hit';
      return sendImage(request, reply, cached, cacheControl);
    }
    if (cacheKey !== undefined) request.chartd.cache = 'miss';
    const outcome = await renderOnPool(request, reply, raw, deps, {
      ifNoneMatch: request.headers['if-none-match'],
      errorImage: wantsErrorImage(request, options.errorImages),
    });
    switch (outcome.type) {
      case 'not-modified':
        return reply.code(304).header('ETag', outcome.etag).header('Cache-Control', cacheControl).send();
      case 'rendered':
        if (cacheKey !== undefined) cache?.set(cacheKey, outcome);
        return sendImage(request, reply, outcome, cacheControl);
      case 'refused':
        request.chartd.code = outcome.error.code;
        if (outcome.error.code === 'INTERNAL') request.log.error({ err: outcome.error }, 'render failed unexpectedly');
        return sendError(request, reply, outcome.error, { errorImages: options.errorImages, image: outcome.image });
    }
  } catch (caught) {
    const error = toChartdError(caught);
    request.chartd.code = error.code;
    if (error.code === 'INTERNAL') request.log.error({ err: caught }, 'render failed unexpectedly');
    return sendError(request, reply, error, { errorImages: options.errorImages });
  }
}
