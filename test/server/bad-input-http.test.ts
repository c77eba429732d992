import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { countDrawnPixels, decodeImage } from '../helpers/images.js';
import { chartUrl, startTestService } from '../helpers/server.js';

/**
 * Bad input over HTTP: each row is one request and the status and code it must
 * get. Codes are API (src/errors.ts); messages are not asserted.
 */

const BAR = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };
const BAR_JSON = JSON.stringify(BAR);

interface Row {
  name: string;
  /** Query parameters of a GET /chart, or a POST /chart body. */
  query?: Record<string, string | number>;
  rawQuery?: string;
  json?: unknown;
  body?: { text: string; contentType: string };
  status: number;
  codes: string[];
  /** When more than one answer is right: the status goes with the code (CONFIG_TOO_LARGE 413, CONFIG_TOO_MANY_POINTS 400). */
  statuses?: number[];
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const manyPoints = (n: number) => ({ type: 'line', data: { datasets: [{ data: new Array<number>(n).fill(0) }] } });

const ROWS: Row[] = [
  { name: 'no parameters at all', rawQuery: '', status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'missing chart, other parameters present', query: { w: 300, h: 200 }, status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'empty chart', rawQuery: 'c=', status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'POST body without chart', json: { width: 300 }, status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'POST empty JSON body', body: { text: '', contentType: 'application/json' }, status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'POST JSON array body', json: [BAR], status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'malformed JSON config', query: { c: '{"type":"bar","data":{' }, status: 400, codes: ['CONFIG_SYNTAX'] },
  { name: 'malformed literal config', query: { c: "{type:'bar',data:{datasets:[{data:[1,2}]}}" }, status: 400, codes: ['CONFIG_SYNTAX'] },
  { name: 'malformed config text in a POST body', json: { chart: '{type: bar' }, status: 400, codes: ['CONFIG_SYNTAX'] },
  { name: 'chart is a number', query: { c: '42' }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'chart is a JSON array', query: { c: '[1,2]' }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'chart is an array in a POST body', json: { chart: [BAR] }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'chart is a JSON string', query: { c: '"bar"' }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'no type', json: { chart: { data: BAR.data } }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'data not an object', json: { chart: { type: 'bar', data: 'x' } }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'data.datasets not an array', json: { chart: { type: 'bar', data: { datasets: { data: [1] } } } }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'a dataset that is not an object', json: { chart: { type: 'bar', data: { datasets: [5] } } }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'dataset data not an array', json: { chart: { type: 'bar', data: { datasets: [{ data: 'x' }] } } }, status: 400, codes: ['CONFIG_INVALID'] },
  { name: 'Infinity value', query: { c: "{type:'line',data:{datasets:[{data:[1,Infinity]}]}}" }, status: 400, codes: ['CONFIG_NOT_FINITE'] },
  { name: '-Infinity in options', query: { c: "{type:'line',data:{datasets:[{data:[1]}]},options:{scales:{y:{min:-Infinity}}}}" }, status: 400, codes: ['CONFIG_NOT_FINITE'] },
  { name: 'unknown chart type', json: { chart: { type: 'sparkle', data: BAR.data } }, status: 400, codes: ['CHART_TYPE_UNKNOWN'] },
  { name: 'unknown dataset type', json: { chart: { type: 'bar', data: { datasets: [{ type: 'sparkle', data: [1] }] } } }, status: 400, codes: ['CHART_TYPE_UNKNOWN'] },
  { name: 'a callback that throws', query: { c: "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:function(v){throw new Error('no')}}}]}}}" }, status: 400, codes: ['SCRIPT_ERROR'] },
  { name: 'width=100000', query: { c: BAR_JSON, width: 100_000 }, status: 413, codes: ['IMAGE_TOO_LARGE'] },
  { name: 'h=100000', query: { c: BAR_JSON, h: 100_000 }, status: 413, codes: ['IMAGE_TOO_LARGE'] },
  { name: 'w=3000&h=3000&devicePixelRatio=4', query: { c: BAR_JSON, w: 3000, h: 3000, devicePixelRatio: 4 }, status: 413, codes: ['IMAGE_TOO_LARGE'] },
  { name: 'width=abc', query: { c: BAR_JSON, width: 'abc' }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'width=-5', query: { c: BAR_JSON, width: -5 }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'devicePixelRatio=abc', query: { c: BAR_JSON, devicePixelRatio: 'abc' }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'devicePixelRatio=0', query: { c: BAR_JSON, devicePixelRatio: 0 }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'devicePixelRatio=100', query: { c: BAR_JSON, devicePixelRatio: 100 }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'bkg that is not a colour', query: { c: BAR_JSON, bkg: 'red;}<script>' }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'width as an object in a JSON body', json: { chart: BAR, width: { px: 3 } }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'bad format', query: { c: BAR_JSON, f: 'gif' }, status: 400, codes: ['FORMAT_UNSUPPORTED'] },
  { name: 'bad format (long name)', json: { chart: BAR, format: 'bmp' }, status: 400, codes: ['FORMAT_UNSUPPORTED'] },
  { name: 'bad version 1', query: { c: BAR_JSON, v: 1 }, status: 400, codes: ['VERSION_UNSUPPORTED'] },
  { name: 'bad version 5.0.0', query: { c: BAR_JSON, version: '5.0.0' }, status: 400, codes: ['VERSION_UNSUPPORTED'] },
  { name: 'bad version text', json: { chart: BAR, version: 'newest' }, status: 400, codes: ['VERSION_UNSUPPORTED'] },
  { name: 'bad encoding', query: { c: BAR_JSON, encoding: 'hex' }, status: 400, codes: ['PARAM_INVALID'] },
  {
    name: 'a million data points',
    json: { chart: manyPoints(1_000_000) },
    status: 413,
    statuses: [413, 400],
    codes: ['CONFIG_TOO_LARGE', 'CONFIG_TOO_MANY_POINTS'],
  },
  {
    name: 'a million data points as literal text',
    json: { chart: `{type:'line',data:{datasets:[{data:[${'0,'.repeat(999_999)}0]}]}}` },
    status: 413,
    statuses: [413, 400],
    codes: ['CONFIG_TOO_LARGE', 'CONFIG_TOO_MANY_POINTS'],
  },
  { name: '200 001 data points', json: { chart: manyPoints(200_001) }, status: 400, codes: ['CONFIG_TOO_MANY_POINTS'] },
  {
    name: '101 datasets',
    json: { chart: { type: 'bar', data: { datasets: Array.from({ length: 101 }, () => ({ data: [1] })) } } },
    status: 400,
    codes: ['CONFIG_TOO_MANY_DATASETS'],
  },
  { name: 'a 20 000-character label', json: { chart: { type: 'bar', data: { labels: ['x'.repeat(20_000)], datasets: [] } } }, status: 400, codes: ['CONFIG_STRING_TOO_LONG'] },
  { name: 'deeply nested object', json: { chart: { ...BAR, options: nested(40) } }, status: 400, codes: ['CONFIG_TOO_DEEP'] },
  { name: 'deeply nested object in a query', query: { c: JSON.stringify({ ...BAR, options: nested(40) }) }, status: 400, codes: ['CONFIG_TOO_DEEP'] },
  { name: 'deeply nested arrays', query: { c: `{"type":"bar","data":{"datasets":[{"data":${'['.repeat(50)}1${']'.repeat(50)}}]}}` }, status: 400, codes: ['CONFIG_TOO_DEEP'] },
  { name: 'invalid JSON body', body: { text: '{"chart": {"type": "bar",', contentType: 'application/json' }, status: 400, codes: ['PARAM_INVALID', 'CONFIG_SYNTAX'] },
  { name: 'JSON body that is a bare string', body: { text: '"hello"', contentType: 'application/json' }, status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'body of an unsupported type', body: { text: BAR_JSON, contentType: 'application/xml' }, status: 400, codes: ['PARAM_INVALID'] },
  { name: 'text/plain body (a string, not an object)', body: { text: BAR_JSON, contentType: 'text/plain' }, status: 400, codes: ['CONFIG_MISSING'] },
  { name: 'bad base64', query: { c: '!!not*base64!!', encoding: 'base64' }, status: 400, codes: ['CONFIG_SYNTAX'] },
  { name: 'base64 of something that is not a config', query: { c: Buffer.from('\u0000\u0001garbage{').toString('base64'), encoding: 'base64' }, status: 400, codes: ['CONFIG_SYNTAX'] },
];

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function send(base: string, row: Row, headers: Record<string, string> = {}): Promise<Reply> {
  let res: Response;
  const signal = AbortSignal.timeout(20_000);
  if (row.query !== undefined || row.rawQuery !== undefined) {
    const url = row.query ? chartUrl(base, row.query) : `${base}/chart${row.rawQuery ? `?${row.rawQuery}` : ''}`;
    res = await fetch(url, { headers, signal });
  } else {
    const body = row.body ?? { text: JSON.stringify(row.json), contentType: 'application/json' };
    res = await fetch(`${base}/chart`, { method: 'POST', headers: { 'content-type': body.contentType, ...headers }, body: body.text, signal });
  }
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The one shape of every error: { error, code, message, statusCode }, no stack. */
function assertErrorBody(reply: Reply, status: number | number[], codes: string[], label: string): void {
  const text = reply.body.toString('utf8');
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(reply.status), `${label}: status ${reply.status}, expected ${statuses.join(' or ')} (${text.slice(0, 300).replace(/[^\x20-\x7e]/g, '.')})`);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/, label);
  assert.equal(reply.headers.get('cache-control'), 'no-store', `${label}: errors are not cached`);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], label);
  assert.ok(codes.includes(body.code as string), `${label}: code ${String(body.code)}, expected ${codes.join(' or ')}`);
  assert.equal(body.statusCode, reply.status, label);
  assert.equal(typeof body.error, 'string', label);
  assert.ok(typeof body.message === 'string' && body.message.length > 0, label);
  assert.doesNotMatch(body.message as string, /\n\s+at /, `${label}: no stack trace`);
}

test('bad input over HTTP', async (t) => {
  const service = await startTestService({ workers: 2 });
  t.after(() => service.close());
  const base = service.url;

  for (const row of ROWS) {
    await t.test(`${row.name} → ${(row.statuses ?? [row.status]).join('|')} ${row.codes.join('|')}`, async () => {
      assertErrorBody(await send(base, row), row.statuses ?? row.status, row.codes, row.name);
    });
  }

  await t.test('after the table, a valid request still renders', async () => {
    const res = await fetch(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, devicePixelRatio: 1 }));
    assert.equal(res.status, 200);
    const image = await decodeImage(Buffer.from(await res.arrayBuffer()));
    assert.deepEqual([image.width, image.height], [200, 100]);
    assert.ok(countDrawnPixels(image) > 100);
    const { restarts } = service.pool.stats();
    assert.deepEqual(restarts, { recycled: 0, memory: 0, deadline: 0, crash: 0 }, 'no bad input cost a worker');
  });

  await t.test('GET with Accept: image/* gets a PNG picture of the error', async () => {
    const res = await fetch(chartUrl(base, { c: '{type: bar', w: 400, h: 200 }), { headers: { accept: 'image/*' } });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.ok(res.headers.get('x-quickchart-error'), 'QuickChart clients read the message from this header');
    assert.equal(res.headers.get('x-chartd-error-code'), 'CONFIG_SYNTAX');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const image = await decodeImage(Buffer.from(await res.arrayBuffer()));
    assert.equal(image.format, 'png');
    // The config did not parse, so no size was resolved: the picture has the default size.
    assert.deepEqual([image.width, image.height], [500, 300]);
    assert.ok(countDrawnPixels(image, [255, 255, 255]) > 200, 'the error text is drawn on the white background');

    // A browser's <img> Accept header, and a render-time error (known only after the worker ran).
    const browserAccept = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
    const unknownType = await fetch(chartUrl(base, { c: JSON.stringify({ type: 'sparkle', data: BAR.data }), w: 400, h: 200 }), {
      headers: { accept: browserAccept },
    });
    assert.equal(unknownType.status, 400);
    assert.equal(unknownType.headers.get('content-type'), 'image/png');
    assert.equal(unknownType.headers.get('x-chartd-error-code'), 'CHART_TYPE_UNKNOWN');
    const picture = await decodeImage(Buffer.from(await unknownType.arrayBuffer()));
    assert.deepEqual([picture.width, picture.height], [400, 200], 'the job was valid: drawn at the size asked for');
    assert.ok(countDrawnPixels(picture, [255, 255, 255]) > 200);
  });

  await t.test('API clients get JSON errors: no Accept, Accept JSON, and POST', async () => {
    const bad = { c: '{type: bar' };
    assertErrorBody(await send(base, { name: 'no accept', query: bad, status: 400, codes: [] }), 400, ['CONFIG_SYNTAX'], 'no accept');
    const json = await send(base, { name: 'json', query: bad, status: 400, codes: [] }, { accept: 'application/json, image/*' });
    assertErrorBody(json, 400, ['CONFIG_SYNTAX'], 'accept json first');
    const viaPost = await send(base, { name: 'post', json: { chart: '{type: bar' }, status: 400, codes: [] }, { accept: 'image/*' });
    assertErrorBody(viaPost, 400, ['CONFIG_SYNTAX'], 'POST with accept image');
  });
});

test('a POST body over bodyLimitBytes is 413 BODY_TOO_LARGE', async (t) => {
  const service = await startTestService({ workers: 1, bodyLimitBytes: 4096 });
  t.after(() => service.close());
  const big = { chart: { ...BAR, data: { labels: Array.from({ length: 2000 }, (_, i) => `label ${i}`), datasets: [{ data: [1] }] } } };
  const text = JSON.stringify(big);
  assert.ok(text.length > 4096);
  for (const contentType of ['application/json', 'application/x-www-form-urlencoded']) {
    const body = contentType === 'application/json' ? text : new URLSearchParams({ c: JSON.stringify(big.chart) }).toString();
    const res = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const reply = { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
    assertErrorBody(reply, 413, ['BODY_TOO_LARGE'], contentType);
  }
  // Under the limit the same server renders.
  const ok = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chart: BAR }) });
  assert.equal(ok.status, 200);
  assert.equal((await decodeImage(Buffer.from(await ok.arrayBuffer()))).format, 'png');
});

describe('requests the HTTP parser refuses', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;
  before(async () => {
    service = await startTestService({ workers: 1 });
  });
  after(() => service.close());

  async function rawRequest(requestLine: string): Promise<{ status: number; body: { code?: string } }> {
    const { connect } = await import('node:net');
    const { port } = new URL(service.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(requestLine, 'utf8'), Buffer.from('\r\nHost: x\r\n\r\n')])));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString('utf8')));
      socket.on('close', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]);
        resolve({ status, body: JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4) || '{}') as { code?: string } });
      });
      socket.on('error', reject);
    });
  }

  test('raw non-ASCII in a URL → 400 REQUEST_INVALID in chartd error shape', async () => {
    const { status, body } = await rawRequest("GET /chart?c={type:'bar',data:{labels:['统计'],datasets:[{data:[1]}]}} HTTP/1.1");
    assert.equal(status, 400);
    assert.equal(body.code, 'REQUEST_INVALID');
  });

  test('a URL over 64 KiB → 431 HEADERS_TOO_LARGE', async () => {
    const { status, body } = await rawRequest(`GET /chart?c=${'x'.repeat(70_000)} HTTP/1.1`);
    assert.equal(status, 431);
    assert.equal(body.code, 'HEADERS_TOO_LARGE');
  });
});
