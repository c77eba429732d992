import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ChartdError, toChartdError } from '../../errors.js';
import type { ServiceOptions } from '../../options.js';
import type { RenderPool } from '../../pool/render-pool.js';
import { createRenderJob } from '../../render/render-chart.js';
import type { RenderJob } from '../../render/job.js';
import { computeEtag, matchesIfNoneMatch } from '../etag.js';
import { sendError } from '../error-reply.js';
import { toRenderRequest } from '../quickchart-params.js';
import { roundMs } from '../round-ms.js';

interface ChartRouteDependencies {
  options: ServiceOptions;
  pool: RenderPool;
  version: string;
}

/** GET /chart and POST /chart: QuickChart's API (docs/API.md). */
export function registerChartRoutes(app: FastifyInstance, deps: ChartRouteDependencies): void {
  const handler = (source: (request: FastifyRequest) => unknown) => async (request: FastifyRequest, reply: FastifyReply) =>
    handleChart(request, reply, source(request), deps);
  app.get('/chart', handler((request) => request.query));
  app.post('/chart', handler((request) => request.body));
}

async function handleChart(request: FastifyRequest, reply: FastifyReply, source: unknown, deps: ChartRouteDependencies) {
  const { options, pool, version } = deps;
  let job: RenderJob | undefined;
  try {
    if (typeof source !== 'object' || source === null || Array.isArray(source)) {
      throw new ChartdError('CONFIG_MISSING', 'send the chart as query parameters or as a JSON object body {"chart": {...}}');
    }
    job = createRenderJob(toRenderRequest(source as Record<string, unknown>));
    request.chartd.format = job.format;
    request.chartd.version = job.version;

    const etag = computeEtag(job, version);
    const cacheControl = `public, max-age=${options.cacheMaxAgeSeconds}`;
    if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) {
      return reply.code(304).header('ETag', etag).header('Cache-Control', cacheControl).send();
    }

    const aborted = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) aborted.abort();
    };
    reply.raw.once('close', onClose);
    try {
      const result = await pool.run(job, { signal: aborted.signal });
      request.chartd.queueWaitMs = roundMs(result.queueWaitMs);
      request.chartd.renderMs = roundMs(result.renderMs);
      return reply
        .code(200)
        .header('Content-Type', result.contentType)
        .header('Content-Length', String(result.body.length))
        .header('ETag', etag)
        .header('Cache-Control', cacheControl)
        .send(result.body);
    } finally {
      reply.raw.off('close', onClose);
    }
  } catch (caught) {
    const error = toChartdError(caught);
    request.chartd.code = error.code;
    if (error.code === 'INTERNAL') request.log.error({ err: caught }, 'render failed unexpectedly');
    return sendError(request, reply, error, {
      errorImages: options.errorImages,
      size: job ? { width: job.width, height: job.height } : undefined,
    });
  }
}
