import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChartOutcome, RenderPool } from '../../pool/render-pool.js';
import type { RawChartRequest } from '../../render/chart-request.js';
import { matchesIfNoneMatch } from '../../render/etag.js';
import type { ServiceOptions } from '../../options.js';
import { clientOf } from '../api-keys.js';
import { budgetMsOf, type ClientBudget } from '../client-budget.js';
import type { CachedRender } from '../render-cache.js';
import { roundTo } from '../../values.js';

/**
 * What the image routes (/chart, /qr, /gchart, /chart/render) share: one render
 * through the pool on the client's budget, and an image reply.
 */

/**
 * One render through the pool, charged to the client's budget, and cancelled if the
 * client leaves while it is queued. Throws CLIENT_BUDGET_EXCEEDED when the client
 * (its address, or its API key's name, known once the body is read) is over its
 * budget while others wait.
 */
export async function renderOnPool(
  request: FastifyRequest,
  reply: FastifyReply,
  raw: RawChartRequest,
  { pool, budget, options }: { pool: RenderPool; budget?: ClientBudget | undefined; options: ServiceOptions },
  { ifNoneMatch, errorImage }: { ifNoneMatch: string | undefined; errorImage: boolean },
): Promise<ChartOutcome> {
  const identity = clientOf(request);
  const client = identity.id;
  if (budget) {
    const percent = identity.apiKey?.budgetPercent ?? options.clientBudgetPercent;
    const refused = budget.check(client, Date.now(), budgetMsOf(percent, options));
    if (refused) throw refused;
  }
  budget?.begin(client);
  reply.raw.once('close', () => budget?.finish(client));
  const aborted = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) aborted.abort();
  };
  reply.raw.once('close', onClose);
  try {
    const outcome = await pool.runRequest(raw, { signal: aborted.signal, ifNoneMatch, errorImage, tag: budget ? client : undefined });
    const state = request.chartd;
    state.queueWaitMs = roundTo(outcome.queueWaitMs, 2);
    state.renderMs = roundTo(outcome.renderMs, 2);
    if (outcome.job) {
      state.format = outcome.job.format;
      state.engine = outcome.job.engine;
    }
    return outcome;
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** An image (rendered or from the render cache), or 304 when a cached image is what the client's If-None-Match names. */
export function sendImage(request: FastifyRequest, reply: FastifyReply, image: CachedRender, cacheControl: string) {
  const state = request.chartd;
  state.format ??= image.job.format;
  state.engine ??= image.job.engine;
  if (state.cache) reply.header('X-Cache', state.cache === 'hit' ? 'HIT' : 'MISS');
  reply.header('ETag', image.etag).header('Cache-Control', cacheControl);
  if (state.cache === 'hit' && matchesIfNoneMatch(request.headers['if-none-match'], image.etag)) return reply.code(304).send();
  return reply.code(200).header('Content-Type', image.contentType).header('Content-Length', String(image.body.length)).send(image.body);
}
