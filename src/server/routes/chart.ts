import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ChartdError, toChartdError } from '../../errors.js';
import type { ServiceOptions } from '../../options.js';
import type { RenderPool } from '../../pool/render-pool.js';
import type { RawChartRequest } from '../../render/chart-request.js';
import type { ClientBudget } from '../client-budget.js';
import { sendError, wantsErrorImage } from '../error-reply.js';
import { queryIfPlusIsSpace } from '../query-string.js';
import { roundMs } from '../round-ms.js';

interface ChartRouteDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  budget?: ClientBudget | undefined;
}

/**
 * GET /chart and POST /chart, GET /qr and GET /gchart: QuickChart's API (docs/API.md). The main process
 * only moves bytes: admission is decided before the body is read, and the raw
 * query or body goes to a worker, which parses, validates, renders and draws
 * error images. A hostile config costs a worker's time, never this event loop's.
 */
export function registerChartRoutes(app: FastifyInstance, deps: ChartRouteDependencies): void {
  // Bodies stay bytes here: the workers parse them (src/render/chart-request.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, { kind: 'json', body }));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, { kind: 'form', body }),
  );
  const admit = async (request: FastifyRequest) => {
    const refused = deps.pool.checkAdmission() ?? deps.budget?.check(request.ip);
    if (refused) throw refused;
  };
  app.get('/chart', { onRequest: admit }, (request, reply) => handleChart(request, reply, readChartQuery(request), deps));
  app.post('/chart', { onRequest: admit }, (request, reply) => handleChart(request, reply, asRawBody(request.body), deps));
  app.get('/qr', { onRequest: admit }, (request, reply) =>
    handleChart(request, reply, { kind: 'qr', params: request.query as Record<string, string> }, deps),
  );
  app.get('/gchart', { onRequest: admit }, (request, reply) => handleChart(request, reply, googleChartQuery(request), deps));
}

/** GET /chart: a Chart.js config, or (with `cht`) a Google Image Charts URL, as QuickChart tells them apart. */
function readChartQuery(request: FastifyRequest): RawChartRequest {
  const params = request.query as Record<string, string>;
  if (Object.hasOwn(params, 'cht')) return googleChartQuery(request);
  return { kind: 'query', params, paramsIfPlusIsSpace: queryIfPlusIsSpace(request.url) };
}

/** Google's chart URLs write spaces as '+' (chtt=Monthly+sales): read the query that way. */
function googleChartQuery(request: FastifyRequest): RawChartRequest {
  return { kind: 'gchart', params: queryIfPlusIsSpace(request.url) ?? (request.query as Record<string, string>) };
}

function asRawBody(body: unknown): RawChartRequest | undefined {
  const raw = body as Partial<RawChartRequest> | undefined;
  return raw && (raw.kind === 'json' || raw.kind === 'form') ? (raw as RawChartRequest) : undefined;
}

async function handleChart(request: FastifyRequest, reply: FastifyReply, raw: RawChartRequest | undefined, deps: ChartRouteDependencies) {
  const { options, pool, budget } = deps;
  try {
    if (!raw) throw new ChartdError('CONFIG_MISSING', 'send the chart as query parameters, or as a JSON object body {"chart": {...}}');
    const client = request.ip;
    budget?.begin(client);
    const aborted = new AbortController();
    reply.raw.once('close', () => budget?.finish(client));
    const onClose = () => {
      if (!reply.raw.writableFinished) aborted.abort();
    };
    reply.raw.once('close', onClose);
    try {
      const outcome = await pool.runRequest(raw, {
        signal: aborted.signal,
        ifNoneMatch: request.headers['if-none-match'],
        errorImage: wantsErrorImage(request, options.errorImages),
        tag: budget ? client : undefined,
      });
      const state = request.chartd;
      state.queueWaitMs = roundMs(outcome.queueWaitMs);
      state.renderMs = roundMs(outcome.renderMs);
      if (outcome.job) {
        state.format = outcome.job.format;
        state.engine = outcome.job.engine;
      }
      const cacheControl = `public, max-age=${options.cacheMaxAgeSeconds}`;
      switch (outcome.type) {
        case 'not-modified':
          return reply.code(304).header('ETag', outcome.etag).header('Cache-Control', cacheControl).send();
        case 'rendered':
          return reply
            .code(200)
            .header('Content-Type', outcome.contentType)
            .header('Content-Length', String(outcome.body.length))
            .header('ETag', outcome.etag)
            .header('Cache-Control', cacheControl)
            .send(outcome.body);
        case 'refused':
          state.code = outcome.error.code;
          if (outcome.error.code === 'INTERNAL') request.log.error({ err: outcome.error }, 'render failed unexpectedly');
          return sendError(request, reply, outcome.error, { errorImages: options.errorImages, image: outcome.image });
      }
    } finally {
      reply.raw.off('close', onClose);
    }
  } catch (caught) {
    const error = toChartdError(caught);
    request.chartd.code = error.code;
    if (error.code === 'INTERNAL') request.log.error({ err: caught }, 'render failed unexpectedly');
    return sendError(request, reply, error, { errorImages: options.errorImages });
  }
}
