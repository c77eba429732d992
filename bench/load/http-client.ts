import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { CONTENT_TYPES, type OutputFormat } from '../../src/index.js';
import type { LoadRequest } from './request-mix.js';

/**
 * How one request ended:
 * - ok: what was expected (an image of the asked format, or the expected error code);
 * - documented-error: a valid chart refused with a code from docs/API.md (QUEUE_FULL, WORKER_CRASHED...);
 * - unexpected: a response that is neither an image nor a documented error, or the wrong one;
 * - no-response: timeout or socket error: the request was lost.
 */
export type OutcomeClass = 'ok' | 'documented-error' | 'unexpected' | 'no-response';

export interface Outcome {
  request: LoadRequest;
  class: OutcomeClass;
  /** For the outcome table: "200 image/png", "500 WORKER_CRASHED", "no response (timeout)". */
  key: string;
  status: number | undefined;
  code: string | undefined;
  latencyMs: number;
  /** performance.now() when it ended. */
  endedAt: number;
  detail?: string;
}

export interface ClientOptions {
  baseUrl: URL;
  agent: http.Agent;
  timeoutMs: number;
  /** code → status, from docs/API.md. */
  documentedCodes: ReadonlyMap<string, number>;
  /**
   * Workers are being killed (the chaos soak): a kill interrupts whatever job its
   * worker holds, an invalid chart's too, so 500 WORKER_CRASHED is a documented
   * outcome for any request, counted against the kills rather than as unexpected.
   */
  workersAreKilled?: boolean;
}

/** Sends one request and classifies how it ended; never rejects. */
export function sendRequest(request: LoadRequest, options: ClientOptions): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<Outcome, 'request' | 'latencyMs' | 'endedAt'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const endedAt = performance.now();
      resolve({ request, latencyMs: endedAt - started, endedAt, ...outcome });
    };
    const lost = (reason: string) =>
      finish({ class: 'no-response', key: `no response (${reason})`, status: undefined, code: undefined, detail: reason });
    const req = http.request(
      {
        host: options.baseUrl.hostname,
        port: options.baseUrl.port,
        method: request.method,
        path: request.path,
        agent: options.agent,
        headers: { ...request.headers, ...(request.body ? { 'content-length': String(request.body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error: NodeJS.ErrnoException) => lost(error.code ?? error.message));
        res.on('aborted', () => lost('response aborted'));
        res.on('end', () => finish(classify(request, res, Buffer.concat(chunks), options)));
      },
    );
    const timer = setTimeout(() => {
      lost('timeout');
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => lost(error.code ?? error.message));
    req.end(request.body);
  });
}

function classify(
  request: LoadRequest,
  res: http.IncomingMessage,
  body: Buffer,
  { documentedCodes: documented, workersAreKilled }: ClientOptions,
): Omit<Outcome, 'request' | 'latencyMs' | 'endedAt'> {
  const status = res.statusCode ?? 0;
  const contentType = String(res.headers['content-type'] ?? '');
  const expect = request.expect;
  const unexpected = (detail: string, code?: string) => ({ class: 'unexpected' as const, key: `unexpected ${status} ${code ?? contentType}`, status, code, detail });

  if (status >= 200 && status < 300) {
    if (expect.type !== 'image') return unexpected(`expected ${expect.code}, got ${status} ${contentType}`);
    const problem = checkImage(expect.format, contentType, body);
    if (problem) return unexpected(problem);
    return { class: 'ok', key: `${status} ${expect.format}`, status, code: undefined };
  }
  if (status < 400) return unexpected(`status ${status}`);

  const error = readError(res, contentType, body);
  if (typeof error === 'string') return unexpected(error);
  const { code, image } = error;
  if (documented.get(code) !== status) return unexpected(`code ${code} with status ${status}: docs/API.md lists ${documented.get(code) ?? 'no such code'}`, code);
  const key = `${status} ${code}${image ? ' (error image)' : ''}`;
  if (expect.type === 'error') {
    const matches = (code === expect.code && status === expect.status) || (expect.alternatives ?? []).some((alt) => alt.code === code && alt.status === status);
    if (!matches && workersAreKilled && code === 'WORKER_CRASHED') return { class: 'documented-error', key, status, code };
    if (!matches || Boolean(expect.image) !== image) {
      return unexpected(`expected ${expect.status} ${expect.code}${expect.image ? ' as an image' : ''}, got ${key}`, code);
    }
    return { class: 'ok', key, status, code };
  }
  return { class: 'documented-error', key, status, code };
}

/** The code of an error answer (JSON body, or an error image with X-Chartd-Error-Code), or what is wrong with it. */
function readError(res: http.IncomingMessage, contentType: string, body: Buffer): { code: string; image: boolean } | string {
  const headerCode = res.headers['x-chartd-error-code'];
  if (contentType.startsWith('image/png')) {
    if (typeof headerCode !== 'string') return 'error image without X-Chartd-Error-Code';
    return checkImage('png', contentType, body) ?? { code: headerCode, image: true };
  }
  let parsed: { error?: unknown; code?: unknown; message?: unknown; statusCode?: unknown };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return `error body is not JSON (${contentType}): ${body.subarray(0, 120).toString('utf8')}`;
  }
  if (typeof parsed.code !== 'string' || typeof parsed.message !== 'string' || typeof parsed.error !== 'string') {
    return `error body lacks error/code/message: ${body.subarray(0, 160).toString('utf8')}`;
  }
  if (parsed.statusCode !== res.statusCode) return `error body statusCode ${String(parsed.statusCode)} differs from HTTP ${res.statusCode}`;
  return { code: parsed.code, image: false };
}

const MAGIC: Partial<Record<OutputFormat, (body: Buffer) => boolean>> = {
  png: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  jpeg: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  webp: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
  svg: (b) => b.subarray(0, 512).toString('utf8').includes('<svg') && b.subarray(-16).toString('utf8').includes('</svg>'),
  pdf: (b) => b.subarray(0, 5).toString('latin1') === '%PDF-',
  base64: (b) => {
    const text = b.toString('latin1');
    const prefix = 'data:image/png;base64,';
    return text.startsWith(prefix) && MAGIC.png!(Buffer.from(text.slice(prefix.length, prefix.length + 16), 'base64'));
  },
};

/** Undefined when the body is a plausible image of that format with the right Content-Type. */
function checkImage(format: OutputFormat, contentType: string, body: Buffer): string | undefined {
  const expected = CONTENT_TYPES[format].split(';')[0]!;
  if (!contentType.toLowerCase().startsWith(expected)) return `${format}: Content-Type "${contentType}", expected ${expected}`;
  if (body.length < 16 || !MAGIC[format]!(body)) return `${format}: body of ${body.length} bytes is not a ${format} image`;
  return undefined;
}
