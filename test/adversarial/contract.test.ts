import assert from 'node:assert/strict';
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
