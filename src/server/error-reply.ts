import type { FastifyReply, FastifyRequest } from 'fastify';
import { ChartdError, ERROR_CATALOG, retryAfterSeconds, toChartdError, type ErrorCode } from '../errors.js';

export type ErrorImageMode = 'auto' | 'always' | 'never';

/** The one JSON shape of every error chartd answers. No stack trace leaves the process. */
export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  statusCode: number;
}

/** Maps fastify's own errors (body parsing, limits) onto chartd codes. */
export function fromFastifyError(error: unknown): ChartdError {
  if (error instanceof ChartdError) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ChartdError('BODY_TOO_LARGE', `request body is over the limit: ${e.message ?? ''}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ChartdError('PARAM_INVALID', 'POST /chart takes application/json or application/x-www-form-urlencoded');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ChartdError('CONFIG_MISSING', 'the JSON body is empty: send {"chart": {...}}');
    // Requests fastify refuses before routing, or while reading the body: its own FST_ERR_* codes never leave chartd.
    case 'FST_ERR_BAD_URL':
      return new ChartdError('REQUEST_INVALID', 'the URL path has a bad percent-escape (a "%" not followed by two hex digits, or bytes that are not UTF-8): percent-encode "%" as %25');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ChartdError('REQUEST_INVALID', 'a path segment is over 100 characters');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ChartdError('REQUEST_INVALID', 'the body is not as long as its Content-Length header says');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ChartdError('CONFIG_SYNTAX', 'the body is not valid JSON');
    case 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE':
      return new ChartdError('PARAM_INVALID', 'the request needs a Content-Type header');
    case 'FST_ERR_NOT_FOUND':
      return new ChartdError('NOT_FOUND', 'no such route');
    default:
      break;
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ChartdError('PARAM_INVALID', `bad request: ${e.message ?? 'unreadable body'}`);
  }
  return toChartdError(error);
}

/**
 * fastify's `frameworkErrors`: errors it meets before a request has a route (a bad
 * percent-escape in the path, a path parameter over its length), answered in chartd's
 * shape instead of fastify's own body with its FST_ERR_* code. No hook has run yet.
 */
export function frameworkErrorHandler(errorImages: ErrorImageMode, onAnswer?: (request: FastifyRequest, reply: FastifyReply) => void) {
  return (error: Error, request: FastifyRequest, reply: FastifyReply): void => {
    const chartdError = fromFastifyError(error);
    // The public app's log line and metrics read request.chartd.
    (request as { chartd?: { code?: string } }).chartd = { code: chartdError.code };
    onAnswer?.(request, reply);
    void sendError(request, reply, chartdError, { errorImages });
  };
}

export function toErrorBody(error: ChartdError): ErrorBody {
  return { error: ERROR_CATALOG[error.code].title, code: error.code, message: error.message, statusCode: error.statusCode };
}

/**
 * Whether to answer with a picture of the error: `<img>` embeds send GET with an
 * Accept header naming images; curl and API clients do not.
 */
export function wantsErrorImage(request: FastifyRequest, mode: ErrorImageMode): boolean {
  if (mode === 'never' || request.method !== 'GET') return false;
  if (mode === 'always') return true;
  const accept = request.headers.accept ?? '';
  return accept.includes('image/') && !accept.startsWith('application/json');
}

/**
 * Answers with an error: JSON, or a PNG for `<img>` embeds. A worker that refused
 * a request drew its picture (`image`, at the chart's size); errors of the main
 * process itself (overload, deadline, crash) get a picture of their code drawn
 * once and kept, so that shedding load stays as cheap as a JSON answer.
 */
export async function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ChartdError,
  options: { errorImages: ErrorImageMode; image?: Buffer | undefined },
): Promise<FastifyReply> {
  // The rate limiter sets its own Retry-After (the time left in its window); the catalog has the others'.
  const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds ?? retryAfterSeconds(error.code);
  if (retryAfter !== undefined && !reply.hasHeader('Retry-After')) reply.header('Retry-After', String(retryAfter));
  reply.header('Cache-Control', 'no-store');
  reply.code(error.statusCode);
  if (wantsErrorImage(request, options.errorImages)) {
    const png = options.image ?? (await cachedErrorImage(error.code));
    // QuickChart's header, so clients written against it find the message.
    reply.header('X-quickchart-error', toHeaderText(error.message));
    reply.header('X-Chartd-Error-Code', error.code);
    return reply.type('image/png').send(png);
  }
  return reply.type('application/json; charset=utf-8').send(toErrorBody(error));
}

/** One picture per error code, drawn at first use: at most one per catalog entry, ever. */
const errorImages = new Map<ErrorCode, Promise<Buffer>>();

function cachedErrorImage(code: ErrorCode): Promise<Buffer> {
  let image = errorImages.get(code);
  if (!image) {
    const { title, statusCode } = ERROR_CATALOG[code];
    // Loaded on first use: the main process draws nothing else, so Skia stays out of it until then.
    image = import('../render/error-image.js').then(({ drawErrorImage }) =>
      drawErrorImage(title, `${code} (HTTP ${statusCode}). The message is in the X-quickchart-error header.`, 500, 300),
    );
    errorImages.set(code, image);
    image.catch(() => errorImages.delete(code));
  }
  return image;
}

function toHeaderText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);
}
