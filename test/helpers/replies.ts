import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';

/** An HTTP answer read whole, with chartd's error fields when it is an error. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The error code: from a JSON error body, or an error image's X-Chartd-Error-Code. */
  code: string | undefined;
}

/** fetch, read to the end, with a hang guard: a request that gets no answer fails the test. */
export async function fetchReply(url: string, init: RequestInit = {}, hangGuardMs = 30_000): Promise<Reply> {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(hangGuardMs) });
  const body = Buffer.from(await response.arrayBuffer());
  const type = response.headers.get('content-type') ?? '';
  let code = response.headers.get('x-chartd-error-code') ?? undefined;
  if (type.startsWith('application/json') && response.status >= 400) code = (JSON.parse(body.toString('utf8')) as { code?: string }).code;
  return { status: response.status, headers: response.headers, body, code };
}

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return fetchReply(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** The one error shape: { error, code, message, statusCode } with the documented status, no stack. */
export function assertErrorReply(reply: Reply, status: number, codes: string | readonly string[], label = ''): void {
  const wanted = typeof codes === 'string' ? [codes] : codes;
  const text = reply.body.toString('utf8');
  assert.equal(reply.status, status, `${label}: status ${reply.status} (${text.slice(0, 300)})`);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, label);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], label);
  assert.ok(wanted.includes(body.code as string), `${label}: code ${String(body.code)}, expected ${wanted.join(' or ')}`);
  assert.equal(body.statusCode, reply.status, label);
  assert.doesNotMatch(String(body.message), /\n\s+at /, `${label}: no stack trace`);
}

/**
 * A POST over node:http on a connection of its own, from `localAddress` (any
 * 127.x.y.z is this machine: a test's second client has another address).
 */
export function postFrom(url: string, body: unknown, { localAddress = '127.0.0.1', headers = {} }: { localAddress?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const text = JSON.stringify(body);
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname,
        port,
        path: pathname,
        method: 'POST',
        localAddress,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          const responseHeaders = new Headers();
          for (const [key, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(key, value);
          const isJson = (res.headers['content-type'] ?? '').startsWith('application/json') && (res.statusCode ?? 0) >= 400;
          const code = isJson ? (JSON.parse(bytes.toString('utf8')) as { code?: string }).code : undefined;
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: bytes, code });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('hang guard: no answer in 30 s')));
    req.on('error', reject);
    req.end(text);
  });
}
