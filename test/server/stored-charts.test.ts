import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resolveServiceOptions } from '../../src/options.js';
import type { RunningService } from '../../src/service.js';
import { newChartId } from '../../src/store/chart-store.js';
import { countColourPixels, decodeImage, differingFraction, type DecodedImage } from '../helpers/images.js';
import { assertErrorReply, fetchReply, postFrom, postJson, type Reply } from '../helpers/replies.js';
import { serveChild, startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Stored charts over HTTP against a started chartd: POST /chart/create, then GET
 * /chart/render/:id with QuickChart's template overrides, expiry, bounds, a
 * restart on the same --data-dir, and store failures that leave /chart alone.
 */

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];

function barConfig(): Record<string, unknown> {
  return {
    type: 'bar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'first', data: [10, 20, 30], backgroundColor: 'rgb(255, 0, 0)' }] },
    options: { legend: { display: false }, animation: false },
  };
}

let service: RunningService;

before(async () => {
  service = await startTestService({ renderCacheMb: 16 });
});
after(() => service.close());

async function create(body: unknown, url = service.url): Promise<{ reply: Reply; url: string; id: string }> {
  const reply = await postJson(`${url}/chart/create`, body);
  assert.equal(reply.status, 200, reply.body.toString());
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  const answer = JSON.parse(reply.body.toString()) as { success: boolean; url: string };
  assert.equal(answer.success, true);
  const match = /\/chart\/render\/([A-Za-z0-9_-]{22})$/.exec(answer.url);
  assert.ok(match, answer.url);
  return { reply, url: answer.url, id: match[1]! };
}

async function image(url: string): Promise<DecodedImage> {
  const reply = await fetchReply(url);
  assert.equal(reply.status, 200, `${url}: ${reply.body.toString().slice(0, 300)}`);
  return decodeImage(reply.body);
}

/** The same chart through POST /chart: what a template render must equal. */
async function direct(body: Record<string, unknown>): Promise<DecodedImage> {
  const reply = await postJson(`${service.url}/chart`, body);
  assert.equal(reply.status, 200, reply.body.toString().slice(0, 300));
  return decodeImage(reply.body);
}

function withQuery(url: string, params: Record<string, string>): string {
  return `${url}?${new URLSearchParams(params).toString()}`;
}

test('create answers QuickChart\'s shape; the URL renders the chart at its size, and the first visit is already cached', async () => {
  const created = await create({ chart: barConfig(), width: 400, height: 200, devicePixelRatio: 1 });
  assert.equal(created.reply.headers.get('cache-control'), 'no-store');
  assert.ok(created.url.startsWith(`${service.url}/chart/render/`), created.url);
  assert.equal(Buffer.from(created.id, 'base64url').length, 16, '128-bit id');

  const first = await fetchReply(created.url);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'image/png');
  assert.equal(first.headers.get('x-cache'), 'HIT', 'the validation render filled the cache');
  const decoded = await decodeImage(first.body);
  assert.equal(decoded.format, 'png');
  assert.deepEqual([decoded.width, decoded.height], [400, 200]);
  assert.ok(countColourPixels(decoded, RED) > 1_000, 'the red bars are drawn');
  // The same pixels as POST /chart draws for that body.
  assert.equal(differingFraction(decoded, await direct({ chart: barConfig(), width: 400, height: 200, devicePixelRatio: 1 })), 0);

  const revalidated = await fetchReply(created.url, { headers: { 'if-none-match': first.headers.get('etag')! } });
  assert.equal(revalidated.status, 304);

  // QuickChart's short names work in the body too; the default size is 500x300 at ratio 2.
  const short = await create({ c: barConfig(), w: 300, h: 100, f: 'webp' });
  const webp = await fetchReply(short.url);
  assert.equal(webp.headers.get('content-type'), 'image/webp');
  assert.deepEqual([(await decodeImage(webp.body)).width, (await decodeImage(webp.body)).height], [600, 200]);
  const defaults = await image((await create({ chart: barConfig() })).url);
  assert.deepEqual([defaults.width, defaults.height], [1000, 600]);
});

test('the query\'s image parameters override the stored ones', async () => {
  const { url } = await create({ chart: barConfig(), width: 400, height: 200, devicePixelRatio: 1 });
  const resized = await image(withQuery(url, { w: '300', h: '150' }));
  assert.deepEqual([resized.width, resized.height], [300, 150]);
  const long = await image(withQuery(url, { width: '320', height: '160', devicePixelRatio: '2' }));
  assert.deepEqual([long.width, long.height], [640, 320]);
  const svg = await fetchReply(withQuery(url, { f: 'svg' }));
  assert.equal(svg.status, 200);
  assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
  const white = await image(withQuery(url, { bkg: 'white' }));
  assert.ok(countColourPixels(white, [255, 255, 255], 8) > 40_000, 'a white background');
  // The chart itself cannot be replaced by the query.
  const other = await image(withQuery(url, { c: JSON.stringify({ type: 'line', data: { datasets: [] } }), chart: '{}', encoding: 'base64' }));
  assert.equal(differingFraction(other, await image(url)), 0);
  assertErrorReply(await fetchReply(withQuery(url, { w: 'wide' })), 400, 'PARAM_INVALID', 'w=wide');
  assertErrorReply(await fetchReply(withQuery(url, { f: 'gif' })), 400, 'FORMAT_UNSUPPORTED', 'f=gif');
});

test('template overrides draw what the overridden config draws through POST /chart', async () => {
  const size = { width: 400, height: 240, devicePixelRatio: 1 };
  const { url } = await create({ chart: barConfig(), ...size });
  const base = await image(url);

  const cases: { params: Record<string, string>; config: (config: Record<string, any>) => void }[] = [
    { params: { title: 'New title' }, config: (c) => (c.options.title = { display: true, text: 'New title' }) },
    { params: { labels: 'Q1, Q2,Q3,Q4' }, config: (c) => (c.data.labels = ['Q1', 'Q2', 'Q3', 'Q4']) },
    { params: { data1: '30,20,10' }, config: (c) => (c.data.datasets[0].data = [30, 20, 10]) },
    { params: { backgroundColor1: 'rgb(0, 0, 255)' }, config: (c) => (c.data.datasets[0].backgroundColor = 'rgb(0, 0, 255)') },
    {
      params: { backgroundColor1: 'rgba(0,0,255,1),green,#ff0000' },
      config: (c) => (c.data.datasets[0].backgroundColor = ['rgba(0,0,255,1)', 'green', '#ff0000']),
    },
    {
      params: { data2: '5,,15', label2: 'second, with a comma', borderColor2: 'black' },
      config: (c) => c.data.datasets.push({ data: [5, null, 15], label: 'second, with a comma', borderColor: 'black' }),
    },
    {
      params: { data1: '1,2', data3: '3,4' },
      config: (c) => {
        c.data.datasets[0].data = [1, 2];
        c.data.datasets.push({ data: [] }, { data: [3, 4] });
      },
    },
  ];
  for (const { params, config } of cases) {
    const expected = barConfig() as Record<string, any>;
    config(expected);
    const overridden = await image(withQuery(url, params));
    const label = JSON.stringify(params);
    assert.ok(differingFraction(overridden, base) > 0.001, `${label} changed the image`);
    assert.equal(differingFraction(overridden, await direct({ chart: expected, ...size })), 0, `${label} draws as the overridden config`);
  }
  const blue = await image(withQuery(url, { backgroundColor1: 'blue' }));
  assert.equal(countColourPixels(blue, RED), 0);
  assert.ok(countColourPixels(blue, BLUE) > 1_000);

  // '+' in a template value is a space (URLSearchParams writes spaces so); %2B is a plus sign.
  const plus = await image(`${url}?title=New+title`);
  assert.equal(differingFraction(plus, await image(withQuery(url, { title: 'New title' }))), 0);

  // Points, gaps and JSON values.
  const line = { type: 'line', data: { datasets: [{ label: 'p', data: [] }] }, options: { scales: { xAxes: [{ type: 'linear' }] }, legend: { display: false } } };
  const { url: lineUrl } = await create({ chart: line, ...size });
  const points = await image(withQuery(lineUrl, { data1: '(1, 50), (10, 40),(12,20)' }));
  const expectedLine = structuredClone(line) as Record<string, any>;
  expectedLine.data.datasets[0].data = [{ x: 1, y: 50 }, { x: 10, y: 40 }, { x: 12, y: 20 }];
  assert.equal(differingFraction(points, await direct({ chart: expectedLine, ...size })), 0);
  const json = await image(withQuery(lineUrl, { data1: '[{"x":1,"y":50},{"x":10,"y":40},{"x":12,"y":20}]' }));
  assert.equal(differingFraction(json, points), 0);
  const objects = await image(withQuery(lineUrl, { data1: '{"x":1,"y":50},{"x":10,"y":40},{"x":12,"y":20}' }));
  assert.equal(differingFraction(objects, points), 0);

  assertErrorReply(await fetchReply(withQuery(url, { data1: '1,two,3' })), 400, 'PARAM_INVALID', 'data1=1,two,3');
  assertErrorReply(await fetchReply(withQuery(url, { data1: '[1,2' })), 400, 'PARAM_INVALID', 'data1=[1,2');
  assertErrorReply(await fetchReply(withQuery(url, { data101: '1' })), 400, 'CONFIG_TOO_MANY_DATASETS', 'data101');
  // Overrides are held to the limits like any config.
  assertErrorReply(await fetchReply(withQuery(url, { data1: '1e999' })), 400, 'CONFIG_NOT_FINITE', 'data1=1e999');
});

test('the title goes where the chart\'s Chart.js version draws it', async () => {
  const size = { width: 400, height: 240, devicePixelRatio: 1 };
  const v4 = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2], backgroundColor: 'rgb(255,0,0)' }] }, options: { plugins: { legend: { display: false } } } };
  const { url } = await create({ chart: v4, version: '4', ...size });
  const titled = await image(withQuery(url, { title: 'Quarterly' }));
  const expected = structuredClone(v4) as Record<string, any>;
  expected.options.plugins.title = { display: true, text: 'Quarterly' };
  assert.ok(differingFraction(titled, await image(url)) > 0.001);
  assert.equal(differingFraction(titled, await direct({ chart: expected, version: '4', ...size })), 0);
  // v= in the query picks the version as it does on /chart.
  const v2 = await image(withQuery(url, { v: '2' }));
  assert.equal(differingFraction(v2, await direct({ chart: v4, version: '2', ...size })), 0);
});

test('a JavaScript config keeps its functions and takes the overrides on its data', async () => {
  const size = { width: 400, height: 240, devicePixelRatio: 1 };
  const text = (data: string) =>
    `{type: 'bar', data: {labels: ['a', 'b', 'c'], datasets: [{data: ${data}, backgroundColor: (ctx) => ctx.dataIndex === 1 ? 'rgb(0,0,255)' : 'rgb(255,0,0)'}]}, options: {legend: {display: false}}}`;
  const { url } = await create({ chart: text('[10, 20, 30]'), ...size });
  const stored = await image(url);
  assert.ok(countColourPixels(stored, BLUE) > 500, 'the scriptable colour ran');
  const overridden = await image(withQuery(url, { data1: '30,20,10' }));
  assert.equal(differingFraction(overridden, await direct({ chart: text('[30, 20, 10]'), ...size })), 0);
  assert.ok(countColourPixels(overridden, BLUE) > 500, 'the function still colours the overridden data');
});

test('a config that would fail is refused at creation with POST /chart\'s code, and nothing is stored', { timeout: 60_000 }, async () => {
  const before = (await service.store.stats()).charts;
  const bad: [unknown, number, string][] = [
    [{ chart: { type: 'nosuchtype', data: { datasets: [] } } }, 400, 'CHART_TYPE_UNKNOWN'],
    [{ chart: '{type: "bar", data: ' }, 400, 'CONFIG_SYNTAX'],
    [{ chart: { type: 'bar', data: { datasets: [{ data: [1] }] } }, width: 99_999 }, 413, 'IMAGE_TOO_LARGE'],
    [{ chart: "{type: 'bar', data: {datasets: [{data: [1], backgroundColor: () => { while (true) {} }}]}}" }, 400, 'SCRIPT_TIMEOUT'],
    [{ width: 300 }, 400, 'CONFIG_MISSING'],
  ];
  for (const [body, status, code] of bad) {
    const viaChart = await postJson(`${service.url}/chart`, body);
    assertErrorReply(viaChart, status, code, `POST /chart ${JSON.stringify(body).slice(0, 60)}`);
    assertErrorReply(await postJson(`${service.url}/chart/create`, body), status, code, `create ${JSON.stringify(body).slice(0, 60)}`);
  }
  const empty = await fetchReply(`${service.url}/chart/create`, { method: 'POST' });
  assertErrorReply(empty, 400, 'CONFIG_MISSING', 'no body');
  assert.equal((await service.store.stats()).charts, before, 'nothing stored');
});

test('the body quickchart-js sends for a short URL (its config as JavaScript text) creates one', async () => {
  const require = createRequire(import.meta.url);
  const QuickChart = require('quickchart-js') as new () => {
    setConfig(config: unknown): unknown;
    setWidth(width: number): unknown;
    setHeight(height: number): unknown;
    setBackgroundColor(color: string): unknown;
    getPostData(): Record<string, unknown>;
  };
  const client = new QuickChart();
  client.setConfig(barConfig());
  client.setWidth(320);
  client.setHeight(160);
  client.setBackgroundColor('white');
  const body = client.getPostData();
  assert.equal(typeof body.chart, 'string', 'quickchart-js sends the config as text');
  const { url } = await create(body);
  const stored = await image(url);
  const expected = await direct(body);
  assert.deepEqual([stored.width, stored.height], [expected.width, expected.height]);
  assert.equal(stored.width, 320 * Number(body.devicePixelRatio ?? 2));
  assert.equal(differingFraction(stored, expected), 0);
});

test('a form body is stored as POST /chart takes it', async () => {
  const form = new URLSearchParams({ chart: JSON.stringify(barConfig()), width: '300', height: '150', devicePixelRatio: '1' }).toString();
  const reply = await fetchReply(`${service.url}/chart/create`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  assert.equal(reply.status, 200, reply.body.toString());
  const { url } = JSON.parse(reply.body.toString()) as { url: string };
  const decoded = await image(url);
  assert.deepEqual([decoded.width, decoded.height], [300, 150]);
});

test('unknown and malformed ids are 404 CHART_NOT_FOUND, prototype names included', async () => {
  const ids = [newChartId(), '', 'abc', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', '%00', 'a/b', `${newChartId()}/x`];
  for (const id of [...ids, 'a'.repeat(21) + '.', 'a'.repeat(90), 'a'.repeat(4_000)]) {
    assertErrorReply(await fetchReply(`${service.url}/chart/render/${id}`), 404, 'CHART_NOT_FOUND', id.slice(0, 40));
  }
  // An <img> embed gets the 404 as an image.
  const embedded = await fetchReply(`${service.url}/chart/render/${newChartId()}`, { headers: { accept: 'image/png,image/*' } });
  assert.equal(embedded.status, 404);
  assert.equal(embedded.headers.get('x-chartd-error-code'), 'CHART_NOT_FOUND');
  assert.equal(embedded.headers.get('content-type'), 'image/png');
});

test('prototype names as override names are ignored, as values they are text', async () => {
  const size = { width: 300, height: 200, devicePixelRatio: 1 };
  const { url } = await create({ chart: barConfig(), ...size });
  const base = await image(url);
  const ignored = `${url}?__proto__=1&constructor=2&prototype=3&data__proto__=4&label0=x&data0=1&toString=5&hasOwnProperty=6&__proto__%5Bpolluted%5D=1`;
  assert.equal(differingFraction(await image(ignored), base), 0);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const asValues = await image(withQuery(url, { title: '__proto__', labels: '__proto__,constructor,toString', label1: 'constructor' }));
  const expected = barConfig() as Record<string, any>;
  expected.options.title = { display: true, text: '__proto__' };
  expected.data.labels = ['__proto__', 'constructor', 'toString'];
  expected.data.datasets[0].label = 'constructor';
  assert.equal(differingFraction(asValues, await direct({ chart: expected, ...size })), 0);
  assert.equal(differingFraction(await image(withQuery(url, { data1: '{"__proto__":{"x":1},"y":5},3,4' })), base) > 0, true);
});

test('the URL base: the Host header, X-Forwarded-Proto only from a trusted proxy, or --public-url', { timeout: 120_000 }, async (t) => {
  const body = { chart: barConfig() };
  const viaHost = await postFrom(`${service.url}/chart/create`, body, { headers: { host: 'charts.example.org:8443', 'x-forwarded-proto': 'https' } });
  assert.equal(viaHost.status, 200);
  assert.match(JSON.parse(viaHost.body.toString()).url, /^http:\/\/charts\.example\.org:8443\/chart\/render\/[\w-]{22}$/);
  const badHost = await postFrom(`${service.url}/chart/create`, body, { headers: { host: 'evil.example/<script>' } });
  assertErrorReply(badHost, 400, 'REQUEST_INVALID', 'bad Host');

  const proxied = await startTestService({ workers: 1, trustProxy: '127.0.0.1' });
  t.after(() => proxied.close());
  const viaProxy = await postFrom(`${proxied.url}/chart/create`, body, { headers: { host: 'charts.example.org', 'x-forwarded-proto': 'https' } });
  assert.match(JSON.parse(viaProxy.body.toString()).url, /^https:\/\/charts\.example\.org\/chart\/render\//);

  const fixed = await startTestService({ workers: 1, publicUrl: 'https://img.example.com/chartd' });
  t.after(() => fixed.close());
  const created = await create(body, fixed.url);
  assert.ok(created.url.startsWith('https://img.example.com/chartd/chart/render/'), created.url);
  // The id renders on this service whatever the base says.
  assert.equal((await fetchReply(`${fixed.url}/chart/render/${created.id}`)).status, 200);
});

test('a stored chart expires after --chart-ttl: 404, and its Cache-Control never outlives it', { timeout: 60_000 }, async (t) => {
  const short = await startTestService({ workers: 1, chartTtlSeconds: 1 });
  t.after(() => short.close());
  const { url } = await create({ chart: barConfig(), width: 100, height: 100 }, short.url);
  const live = await fetchReply(url);
  assert.equal(live.status, 200);
  assert.match(live.headers.get('cache-control') ?? '', /^public, max-age=[01]$/);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  assertErrorReply(await fetchReply(url), 404, 'CHART_NOT_FOUND', 'expired');
  // Dropped from the file too: by the service's purge timer (every --chart-ttl here) or by this call.
  assert.ok((await short.store.deleteExpired()) <= 1);
  assert.equal((await short.store.stats()).charts, 0);
});

test('a chart URL outlives a restart of the service on the same --data-dir', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chartd-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startTestService({ workers: 1, dataDir });
  let created: { url: string; id: string };
  let before: Reply;
  try {
    created = await create({ chart: barConfig(), width: 200, height: 100 }, first.url);
    before = await fetchReply(created.url);
    assert.equal(before.status, 200);
  } finally {
    await first.close();
  }
  const second = await startTestService({ workers: 1, dataDir });
  t.after(() => second.close());
  const after = await fetchReply(`${second.url}/chart/render/${created.id}`);
  assert.equal(after.status, 200);
  assert.equal(after.headers.get('etag'), before.headers.get('etag'));
  assert.equal(differingFraction(await decodeImage(after.body), await decodeImage(before.body)), 0);
});

test('past --store-max-charts create is 507 STORE_FULL; stored charts and /chart serve on', { timeout: 60_000 }, async (t) => {
  const bounded = await startTestService({ workers: 1, storeMaxCharts: 2 });
  t.after(() => bounded.close());
  let renders = 0;
  bounded.pool.on('task', () => renders++);
  const kept = [await create({ chart: barConfig() }, bounded.url), await create({ chart: barConfig() }, bounded.url)];
  const rendersBefore = renders;
  const full = await postJson(`${bounded.url}/chart/create`, { chart: barConfig() });
  assertErrorReply(full, 507, 'STORE_FULL', 'third chart');
  assert.equal(renders, rendersBefore, 'a full store costs no render');
  for (const { url } of kept) assert.equal((await fetchReply(url)).status, 200);
  assert.equal((await postJson(`${bounded.url}/chart`, { chart: barConfig() })).status, 200);
  assert.equal((await bounded.store.stats()).charts, 2);
});

test('a store that fails is 503 STORE_UNAVAILABLE on the stored-chart routes and never touches /chart', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'chartd-broken-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  const broken = await startTestService({ workers: 1, dataDir: file });
  t.after(() => broken.close());
  const refused = await postJson(`${broken.url}/chart/create`, { chart: barConfig() });
  assertErrorReply(refused, 503, 'STORE_UNAVAILABLE', 'create');
  assert.equal(refused.headers.get('retry-after'), '5');
  assertErrorReply(await fetchReply(`${broken.url}/chart/render/${newChartId()}`), 503, 'STORE_UNAVAILABLE', 'render');
  // A malformed id is still just unknown: it never reaches the store.
  assertErrorReply(await fetchReply(`${broken.url}/chart/render/nope`), 404, 'CHART_NOT_FOUND', 'malformed');
  assert.equal((await postJson(`${broken.url}/chart`, { chart: barConfig() })).status, 200);
  assert.equal((await fetchReply(`${broken.url}/readyz`)).status, 200);

  // A store that fails while running (here: closed under the service) answers the same.
  const running = await startTestService({ workers: 1 });
  t.after(() => running.close());
  const { id } = await create({ chart: barConfig() }, running.url);
  await running.store.close();
  assertErrorReply(await fetchReply(`${running.url}/chart/render/${id}`), 503, 'STORE_UNAVAILABLE', 'closed store');
  assert.equal((await postJson(`${running.url}/chart`, { chart: barConfig() })).status, 200);
});

test('--public-url must be an http(s) base without query, fragment or credentials', () => {
  assert.equal(resolveServiceOptions({ 'public-url': 'https://charts.example.com/prefix/' }, {}).publicUrl, 'https://charts.example.com/prefix');
  assert.equal(resolveServiceOptions({}, { CHARTD_PUBLIC_URL: 'http://10.0.0.5:3400' }).publicUrl, 'http://10.0.0.5:3400');
  assert.equal(resolveServiceOptions({}, {}).publicUrl, '');
  for (const bad of ['charts.example.com', 'ftp://charts.example.com', 'https://charts.example.com/?a=1', 'https://charts.example.com/#x', 'https://user:pw@charts.example.com']) {
    assert.throws(() => resolveServiceOptions({ 'public-url': bad }, {}), /--public-url must be an http or https URL/, bad);
  }
  assert.throws(() => resolveServiceOptions({ 'chart-ttl': '0' }, {}), /--chart-ttl must be an integer >= 1/);
});

test('request logs carry only a prefix of a stored chart\'s id: the id is the key to the chart', { timeout: 60_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chartd-log-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const { base, lines } = await serveChild(t, ['--workers', '1', '--data-dir', dataDir]);
  const { url, id } = await create({ chart: barConfig() }, base);
  assert.equal((await fetchReply(url)).status, 200);
  const logged = async () => {
    await waitFor('the render request to be logged', () => lines.some((line) => line.includes('/chart/render/')));
    return lines.filter((line) => line.includes('/chart/render/'));
  };
  const renderLines = await logged();
  assert.ok(renderLines.length > 0, 'the render was logged');
  for (const line of renderLines) {
    assert.ok(!line.includes(id), `the full id is not in the log: ${line}`);
    assert.ok(line.includes(`/chart/render/${id.slice(0, 6)}…`), line);
  }
});
