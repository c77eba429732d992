import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { RunningService } from '../../src/service.js';
import { countDrawnPixels, decodeImage, pixelAt } from '../helpers/images.js';
import { assertErrorReply, fetchReply, postJson } from '../helpers/replies.js';
import { chartUrl, startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Issue 9, "contract gaps": answers that did not match docs/API.md. */

const BAR = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };

describe('issue 9: contract gaps', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 2 }, { faultHooks: true });
  });
  after(() => service.close());

  test('bkg must be a colour: "notacolor" and prototype names are 400 PARAM_INVALID, real colours render', async () => {
    for (const bkg of ['notacolor', 'constructor', '__proto__', 'red;}<x>', 'rgb(1,2', '#12345']) {
      assertErrorReply(await fetchReply(chartUrl(service.url, { c: JSON.stringify(BAR), bkg })), 400, 'PARAM_INVALID', `bkg=${bkg}`);
    }
    for (const [bkg, rgb] of [['ff0000', [255, 0, 0]], ['rgba(0,0,255,1)', [0, 0, 255]], ['hsl(120, 100%, 25%)', [0, 128, 0]], ['white', [255, 255, 255]]] as const) {
      const reply = await fetchReply(chartUrl(service.url, { c: JSON.stringify(BAR), bkg, w: 100, h: 60, devicePixelRatio: 1 }));
      assert.equal(reply.status, 200, `bkg=${bkg}`);
      const [r, g, b] = pixelAt(await decodeImage(reply.body), 1, 1);
      assert.ok(Math.abs(r - rgb[0]) < 3 && Math.abs(g - rgb[1]) < 3 && Math.abs(b - rgb[2]) < 3, `bkg=${bkg} drew ${r},${g},${b}`);
    }
  });

  test('an x-request-id is echoed only when it looks like one: short, no spaces or control characters', async () => {
    const echoed = await fetchReply(`${service.url}/healthz`, { headers: { 'x-request-id': 'trace-42.abc:7' } });
    assert.equal(echoed.headers.get('x-request-id'), 'trace-42.abc:7');
    for (const given of ['x'.repeat(10_000), 'x'.repeat(129), 'has spaces in it', '<script>']) {
      const reply = await fetchReply(`${service.url}/healthz`, { headers: { 'x-request-id': given } });
      const id = reply.headers.get('x-request-id') ?? '';
      assert.notEqual(id, given);
      assert.match(id, /^[0-9a-f-]{36}$/, 'a fresh id instead');
    }
  });

  test('Chart.js 2 throwing a string is 400 RENDER_FAILED, not 500 INTERNAL', async () => {
    const tooFar = {
      type: 'line',
      data: { datasets: [{ data: [{ x: Date.UTC(2020, 0, 1), y: 1 }, { x: Date.UTC(2025, 0, 1), y: 2 }] }] },
      options: { scales: { xAxes: [{ type: 'time', time: { unit: 'second' } }] } },
    };
    const reply = await postJson(`${service.url}/chart`, { chart: tooFar });
    assertErrorReply(reply, 400, 'RENDER_FAILED');
    assert.match(reply.body.toString(), /too far apart/);
  });

  test('a "__proto__" key in a POST body or config is data: kept, never a prototype, and the chart renders', async () => {
    const body = `{"__proto__": {"chart": {"type": "nope"}}, "chart": {"type": "bar", "data": {"datasets": [{"data": [1, 2]}]}, "options": {"__proto__": {"legend": false}}}, "width": 200, "height": 100}`;
    const reply = await fetchReply(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(reply.status, 200, reply.body.subarray(0, 300).toString());
    const image = await decodeImage(reply.body);
    assert.deepEqual([image.width, image.height], [400, 200]);
    assert.ok(countDrawnPixels(image) > 100);
  });

  test('--queue auto is 8 places per worker', () => {
    assert.equal(service.pool.options.maxQueue, 16);
  });
});

test('issue 9: overload answers to <img> embeds are one cached picture per code, drawn by no worker', async (t) => {
  const service = await startTestService({ workers: 1, queue: 0 }, { faultHooks: true });
  t.after(() => service.close());
  const busy = postJson(`${service.url}/chart`, { chart: { ...BAR, options: { plugins: { chartdTest: { busyMs: 1500 } } } } });
  await waitFor('the worker to be busy', () => service.pool.stats().inFlight === 1);
  const accept = { accept: 'image/avif,image/webp,image/*,*/*;q=0.8' };
  const first = await fetchReply(chartUrl(service.url, { c: JSON.stringify(BAR), w: 800, h: 400 }), { headers: accept });
  const second = await fetchReply(chartUrl(service.url, { c: JSON.stringify({ ...BAR, type: 'line' }) }), { headers: accept });
  for (const reply of [first, second]) {
    assert.equal(reply.status, 503);
    assert.equal(reply.headers.get('content-type'), 'image/png');
    assert.equal(reply.headers.get('x-chartd-error-code'), 'QUEUE_FULL');
    assert.match(reply.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(reply.headers.get('x-quickchart-error') ?? '', /busy/);
  }
  assert.ok(first.body.equals(second.body), 'the same cached picture for every QUEUE_FULL');
  assert.equal((await decodeImage(first.body)).format, 'png');
  assert.equal((await busy).status, 200);
});

test('issue 9: while draining, a request on an open connection gets 503 SHUTTING_DOWN with its code and Retry-After', async (t) => {
  const service = await startTestService({ workers: 1, drainTimeoutMs: 10_000 }, { faultHooks: true });
  let closed: Promise<void> | undefined;
  t.after(() => closed ?? service.close());
  const { port } = new URL(service.url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
  const slow = JSON.stringify({ chart: { ...BAR, options: { plugins: { chartdTest: { busyMs: 800 } } } }, width: 100, height: 60 });
  socket.write(`POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${slow.length}\r\n\r\n${slow}`);
  await waitFor('the render to start', () => service.pool.stats().inFlight === 1);
  closed = service.close();
  // A second request on the same connection (pipelined), sent once the drain has begun.
  socket.write(`GET /chart?c=${encodeURIComponent(JSON.stringify(BAR))} HTTP/1.1\r\nHost: x\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await closed;
  const answers = data.split(/(?=HTTP\/1\.1 )/);
  assert.match(answers[0] ?? '', /^HTTP\/1\.1 200 /, 'the accepted render finished');
  assert.match(answers[1] ?? '', /^HTTP\/1\.1 503 /);
  assert.match(answers[1] ?? '', /"code":"SHUTTING_DOWN"/);
  assert.match(answers[1] ?? '', /retry-after: 5/i);
  assert.match(answers[1] ?? '', /connection: close/i);
});

/** Writes `text` on a fresh socket and reads until the server closes it (or `waitMs` passes): the whole exchange. */
function rawExchange(base: string, text: string, waitMs = 3000): Promise<{ data: string; closed: boolean }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, closed: false });
    }, waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
    socket.write(text);
  });
}

function codeOf(answer: string): string | undefined {
  return /"code":"([A-Z_]+)"/.exec(answer)?.[1];
}

const DOCUMENTED_CODES = new Set([...readFileSync(new URL('../../../docs/API.md', import.meta.url), 'utf8').matchAll(/^\| `([A-Z_]+)` \| \d{3} \|/gm)].map((m) => m[1]!));

describe('issue 9: requests refused before routing answer in chartd\'s shape, with a documented code', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 1 });
  });
  after(() => service.close());

  test('a bad percent-escape in the path (fastify\'s FST_ERR_BAD_URL) is 400 REQUEST_INVALID, on both listeners', async () => {
    const cases = [
      [service.url, '/%zz'],
      [service.url, '/chart/render/%E0%A4%A'],
      [service.url, '/chart%ZZ?c=1'],
      [service.adminUrl, '/%zz'],
      // A path parameter past the router's 100 characters (fastify's FST_ERR_MAX_PARAM_LENGTH, 414).
      [service.adminUrl, `/debug/workers/${'1'.repeat(150)}/recycle`, 'POST'],
    ] as const;
    for (const [base, path, method = 'GET'] of cases) {
      const { data } = await rawExchange(base, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(data, /^HTTP\/1\.1 400 /, `${path}: ${data.slice(0, 300)}`);
      assert.equal(codeOf(data), 'REQUEST_INVALID', path);
      assert.doesNotMatch(data, /FST_ERR/, path);
    }
    // Fastify runs no hooks for these: chartd still counts each (and logs it, from the same place).
    const unmatched400 = async () => {
      const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
      return Number(/^chartd_requests_total\{route="unmatched",method="GET",status="400"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const counted = await unmatched400();
    await rawExchange(service.url, 'GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor('the refused request to be counted', async () => (await unmatched400()) === counted + 1);
  });

  test('every 4xx fastify error a request can cause maps to a documented chartd code', async () => {
    const { fromFastifyError } = await import('../../src/server/error-reply.js');
    const fastifyErrors = (await import('fastify/lib/errors.js' as string)) as Record<string, new (...args: string[]) => Error & { statusCode?: number }>;
    for (const [name, FastifyError] of Object.entries(fastifyErrors)) {
      if (!name.startsWith('FST_ERR_') || typeof FastifyError !== 'function') continue;
      const error = new FastifyError('a', 'b', 'c');
      if (!(typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500)) continue;
      const mapped = fromFastifyError(error);
      assert.ok(DOCUMENTED_CODES.has(mapped.code), `${name} → ${mapped.code} is in docs/API.md`);
      assert.ok(mapped.statusCode < 500, `${name} → ${mapped.code}`);
    }
  });

  test('HTTP/1.1 without Host is 400 REQUEST_INVALID with a body on both listeners (HTTP/1.0 needs none); CONNECT is 400 and closed', async () => {
    const noHost = await rawExchange(service.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.match(noHost.data, /^HTTP\/1\.1 400 /);
    assert.equal(codeOf(noHost.data), 'REQUEST_INVALID');
    assert.match(noHost.data, /needs a Host header/);
    // The admin listener too (Node's own check gave a bare 400 with no body there).
    const adminNoHost = await rawExchange(service.adminUrl, 'GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.match(adminNoHost.data, /^HTTP\/1\.1 400 /);
    assert.equal(codeOf(adminNoHost.data), 'REQUEST_INVALID', adminNoHost.data.slice(0, 300));
    assert.match((await rawExchange(service.adminUrl, 'GET /healthz HTTP/1.0\r\n\r\n')).data, /^HTTP\/1\.1 200 /);
    assert.match((await rawExchange(service.url, 'GET /healthz HTTP/1.0\r\n\r\n')).data, /^HTTP\/1\.1 200 /);
    const tunnel = await rawExchange(service.url, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    assert.ok(tunnel.closed, 'the socket is closed');
    assert.match(tunnel.data, /^HTTP\/1\.1 400 /);
    assert.equal(codeOf(tunnel.data), 'REQUEST_INVALID');
    assert.equal((await fetchReply(`${service.url}/healthz`)).status, 200);
  });

  test('Expect: 100-continue over --body-limit is 413 BODY_TOO_LARGE with no 100 first; under it, 100 and the chart; other Expect is 417', async () => {
    const big = await rawExchange(
      service.url,
      'POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n',
    );
    assert.match(big.data, /^HTTP\/1\.1 413 /, big.data.slice(0, 200));
    assert.doesNotMatch(big.data, /100 Continue/);
    assert.equal(codeOf(big.data), 'BODY_TOO_LARGE');
    assert.ok(big.closed, 'the connection closes: the body never comes');
    const body = JSON.stringify({ chart: BAR, width: 40, height: 30 });
    const small = await rawExchange(
      service.url,
      `POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.match(small.data, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    const odd = await rawExchange(service.url, 'POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\n{}');
    assert.match(odd.data, /^HTTP\/1\.1 417 /);
    assert.equal(codeOf(odd.data), 'EXPECTATION_FAILED');
    assert.ok(DOCUMENTED_CODES.has('EXPECTATION_FAILED'));
  });
});

test('issue 9: numeric parameters take plain decimals only: fractions below 1, hex, octal, binary, exponents, signs and Infinity are 400 PARAM_INVALID', async (t) => {
  const service = await startTestService({ workers: 1 });
  t.after(() => service.close());
  const c = JSON.stringify(BAR);
  const bad: Array<[string, Record<string, string | number>]> = [];
  for (const name of ['w', 'h', 'width', 'height']) {
    for (const value of ['0.5', '0', '0x10', '0o10', '0b10', '1e2', '+100', '-5', 'Infinity', '1 00', '0x10px', '']) bad.push(['/chart', { c, [name]: value === '' ? ' ' : value }]);
  }
  for (const value of ['0', '0.001', '1e-300', '0x1', '+1', 'Infinity', '2px', '1e0']) bad.push(['/chart', { c, devicePixelRatio: value }]);
  for (const value of ['0.5', '0x10', '1e2', '+150', 'Infinity']) bad.push(['/qr', { text: 'hi', size: value }]);
  for (const value of ['0x1', '1e1', '+4', '-1', '101', 'Infinity']) bad.push(['/qr', { text: 'hi', margin: value }]);
  for (const chs of ['0x10', '1e2x100', '+100x100', '100.5x100', '0x0']) bad.push(['/chart', { cht: 'bvs', chd: 't:1,2', chs }], ['/chart', { cht: 'qr', chl: 'hi', chs }]);
  bad.push(['/chart', { cht: 'qr', chl: 'hi', chld: 'L|0x1' }]);
  for (const [path, params] of bad) {
    const query = Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
    assertErrorReply(await fetchReply(`${service.url}${path}?${query}`), 400, 'PARAM_INVALID', `${path} ${JSON.stringify(params).slice(-60)}`);
  }
  // A JSON body's numbers too; a canvas under 1 × 1 device pixel is refused up front, not a raw canvas error.
  for (const body of [{ width: 0.5 }, { height: 0.99 }, { devicePixelRatio: 1e-300 }, { width: 10, devicePixelRatio: 0.05 }]) {
    assertErrorReply(await postJson(`${service.url}/chart`, { chart: BAR, ...body }), 400, 'PARAM_INVALID', JSON.stringify(body));
  }
  const sizes: Array<[Record<string, string | number>, number, number]> = [
    [{ w: '300px', h: '200PX', devicePixelRatio: 1 }, 300, 200],
    [{ w: ' 120 ', h: '80', devicePixelRatio: '1' }, 120, 80],
    [{ w: '99.6', h: '1.4', devicePixelRatio: 1 }, 100, 1],
    [{ w: '10', h: '10', devicePixelRatio: '.1' }, 1, 1],
    [{ w: '100', h: '50', devicePixelRatio: '1.5' }, 150, 75],
  ];
  for (const [params, width, height] of sizes) {
    const reply = await fetchReply(chartUrl(service.url, { c, ...params }));
    assert.equal(reply.status, 200, `${JSON.stringify(params)}: ${reply.body.subarray(0, 200).toString()}`);
    const image = await decodeImage(reply.body);
    assert.deepEqual([image.width, image.height], [width, height], JSON.stringify(params));
  }
  for (const [size, pixels] of [['150px', 150], [' 200 ', 200], ['120.4', 120]] as const) {
    const reply = await fetchReply(`${service.url}/qr?text=hi&size=${encodeURIComponent(size)}`);
    assert.equal(reply.status, 200, size);
    assert.equal((await decodeImage(reply.body)).width, pixels, size);
  }
});

test('issue 9: the 1 MiB config limit is on config text; a chart object is bounded by --body-limit and the values count, as docs/API.md says', async (t) => {
  const service = await startTestService({ workers: 1 });
  t.after(() => service.close());
  const api = readFileSync(new URL('../../../docs/API.md', import.meta.url), 'utf8');
  assert.match(api, /\| config text \| 1 MiB \(UTF-8\) of a `chart` string/);
  assert.match(api, /\| a `chart` object in a JSON body \|/);
  // 1.6 MB of an object (200 strings of 8,000 characters in an option nothing reads): under the 2 MiB body limit.
  const padding = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'x'.repeat(8000)]));
  const chart = { ...BAR, options: { plugins: { unused: padding } } };
  assert.equal((await postJson(`${service.url}/chart`, { chart, width: 60, height: 40 })).status, 200);
  // The same config as text is over 1 MiB.
  assertErrorReply(await postJson(`${service.url}/chart`, { chart: JSON.stringify(chart), width: 60, height: 40 }), 413, 'CONFIG_TOO_LARGE');
  const bigger = { ...BAR, options: { plugins: { unused: { ...padding, ...Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`m${i}`, 'y'.repeat(8000)])) } } } };
  assertErrorReply(await postJson(`${service.url}/chart`, { chart: bigger }), 413, 'BODY_TOO_LARGE');
});
