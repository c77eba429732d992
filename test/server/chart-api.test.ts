import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import { countColourPixels, countDrawnPixels, decodeImage, pixelAt } from '../helpers/images.js';
import { chartUrl, startTestService } from '../helpers/server.js';

/**
 * The public HTTP API against a real server on port 0: QuickChart's parameters in
 * long and short form, every output format decoded, caching headers, and the
 * routes that must (and must not) exist on the public port.
 */

const BAR = { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'n', data: [3, 1, 2] }] } };
const BAR_JSON = JSON.stringify(BAR);
/** The same chart as the quickchart-js client sends it: a JavaScript object literal. */
const BAR_LITERAL = "{type:'bar',data:{labels:['a','b','c'],datasets:[{label:'n',data:[3,1,2]}]}}";

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function post(url: string, body: string, contentType: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** A GET with the path sent byte for byte: fetch would percent-encode some characters. */
function rawGet(base: string, path: string): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function assertOk(reply: Reply, contentType: string): void {
  assert.equal(reply.status, 200, `expected 200, got ${reply.status}: ${reply.body.subarray(0, 300).toString()}`);
  assert.equal(reply.headers.get('content-type'), contentType);
  assert.equal(Number(reply.headers.get('content-length')), reply.body.length, 'Content-Length is the body length');
}

async function assertPng(reply: Reply, width: number, height: number): Promise<void> {
  assertOk(reply, 'image/png');
  const image = await decodeImage(reply.body);
  assert.equal(image.format, 'png');
  assert.deepEqual([image.width, image.height], [width, height]);
  assert.ok(countDrawnPixels(image) > 100, 'the chart draws something');
}

async function assertErrorJson(reply: Reply, status: number, code: string): Promise<void> {
  assert.equal(reply.status, status);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(reply.body.toString()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.equal(body.code, code);
  assert.equal(body.statusCode, status);
}

test('GET and POST /chart', async (t) => {
  const service = await startTestService({ workers: 2, cacheMaxAgeSeconds: 3600 });
  t.after(() => service.close());
  const base = service.url;

  await t.test('defaults: PNG at devicePixelRatio 2 of 500x300', async () => {
    await assertPng(await get(chartUrl(base, { c: BAR_JSON })), 1000, 600);
  });

  await t.test('w, h and devicePixelRatio set the decoded size', async () => {
    await assertPng(await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 1 })), 300, 200);
    await assertPng(await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 2 })), 600, 400);
    await assertPng(await get(chartUrl(base, { c: BAR_JSON, width: 250, height: 120, devicePixelRatio: 1 })), 250, 120);
    await assertPng(await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 1.5 })), 450, 300);
  });

  await t.test('short and long parameter names are the same request', async () => {
    const pairs: [Record<string, string | number>, Record<string, string | number>][] = [
      [{ c: BAR_JSON }, { chart: BAR_JSON }],
      [{ c: BAR_JSON, w: 320 }, { c: BAR_JSON, width: 320 }],
      [{ c: BAR_JSON, h: 180 }, { c: BAR_JSON, height: 180 }],
      [{ c: BAR_JSON, bkg: '#00ff00' }, { c: BAR_JSON, backgroundColor: '#00ff00' }],
      [{ c: BAR_JSON, f: 'webp' }, { c: BAR_JSON, format: 'webp' }],
      [{ c: BAR_JSON, v: 3 }, { c: BAR_JSON, version: 3 }],
    ];
    const plain = (await get(chartUrl(base, { c: BAR_JSON }))).headers.get('etag');
    for (const [short, long] of pairs) {
      const a = await get(chartUrl(base, short));
      const b = await get(chartUrl(base, long));
      assert.equal(a.status, 200, JSON.stringify(short));
      assert.equal(b.status, 200, JSON.stringify(long));
      assert.ok(a.headers.get('etag'));
      assert.equal(a.headers.get('etag'), b.headers.get('etag'), `${JSON.stringify(short)} vs ${JSON.stringify(long)}`);
      assert.equal(a.headers.get('content-type'), b.headers.get('content-type'));
      assert.ok(a.body.equals(b.body), `same bytes for ${Object.keys(short).join(',')}`);
      if (!('chart' in long)) assert.notEqual(a.headers.get('etag'), plain, `${Object.keys(long)[1]} changes the request`);
    }
  });

  await t.test('v / version selects the Chart.js major', async () => {
    const tags = new Set<string | null>();
    for (const v of ['2', '3', '4', '2.9.4', '4.4.1']) {
      const reply = await get(chartUrl(base, { c: BAR_JSON, v, w: 200, h: 100, devicePixelRatio: 1 }));
      await assertPng(reply, 200, 100);
      tags.add(reply.headers.get('etag'));
    }
    assert.equal(tags.size, 3, 'three majors, three different renders; release strings map onto their major');
    const latest = await get(chartUrl(base, { c: BAR_JSON, v: 'latest', w: 200, h: 100, devicePixelRatio: 1 }));
    const four = await get(chartUrl(base, { c: BAR_JSON, v: 4, w: 200, h: 100, devicePixelRatio: 1 }));
    assert.equal(latest.status, 200);
    assert.equal(latest.headers.get('etag'), four.headers.get('etag'), 'latest is 4');
  });

  await t.test('a repeated query parameter counts once, the first time', async () => {
    const once = await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 1 }));
    const repeated = await get(`${chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 1 })}&w=900&c=${encodeURIComponent('{broken')}`);
    await assertPng(repeated, 300, 200);
    assert.equal(repeated.headers.get('etag'), once.headers.get('etag'));
  });

  await t.test('every format, with its content type and decoded size', async () => {
    const size = { w: 300, h: 200, devicePixelRatio: 1 };
    const raster: [string, string, string][] = [
      ['png', 'image/png', 'png'],
      ['webp', 'image/webp', 'webp'],
      ['jpg', 'image/jpeg', 'jpeg'],
      ['jpeg', 'image/jpeg', 'jpeg'],
      ['PNG', 'image/png', 'png'],
    ];
    for (const [f, contentType, decoded] of raster) {
      const reply = await get(chartUrl(base, { c: BAR_JSON, ...size, f }));
      assertOk(reply, contentType);
      const image = await decodeImage(reply.body);
      assert.equal(image.format, decoded, f);
      assert.deepEqual([image.width, image.height], [300, 200], f);
    }

    // Vector formats ignore devicePixelRatio: their size is the CSS size.
    const svg = await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 2, f: 'svg' }));
    assertOk(svg, 'image/svg+xml');
    assert.match(svg.body.toString('utf8'), /<svg[^>]*width="300"[^>]*height="200"/);
    const svgImage = await decodeImage(svg.body);
    assert.deepEqual([svgImage.format, svgImage.width, svgImage.height], ['svg', 300, 200]);
    assert.ok(countDrawnPixels(svgImage) > 100, 'the SVG draws something');

    const pdf = await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, f: 'pdf' }));
    assertOk(pdf, 'application/pdf');
    assert.equal(pdf.body.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(pdf.body.toString('latin1'), /MediaBox\s*\[0 0 300 200\]/);
    assert.match(pdf.body.toString('latin1'), /%%EOF\s*$/);

    const base64 = await get(chartUrl(base, { c: BAR_JSON, ...size, f: 'base64' }));
    assertOk(base64, 'text/plain; charset=utf-8');
    const text = base64.body.toString('latin1');
    assert.match(text, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    const png = await decodeImage(Buffer.from(text.slice(text.indexOf(',') + 1), 'base64'));
    assert.deepEqual([png.format, png.width, png.height], ['png', 300, 200]);
  });

  await t.test('bkg / backgroundColor paints the background', async () => {
    const url = (extra: string) => `${chartUrl(base, { c: BAR_JSON, w: 200, h: 100, devicePixelRatio: 1 })}&${extra}`;
    for (const extra of ['bkg=%23ff0000', 'bkg=ff0000', 'backgroundColor=red', 'bkg=rgb(255,0,0)', 'bkg=f00']) {
      const reply = await get(url(extra));
      assertOk(reply, 'image/png');
      const image = await decodeImage(reply.body);
      assert.deepEqual(pixelAt(image, 0, 0), [255, 0, 0, 255], extra);
      assert.deepEqual(pixelAt(image, 199, 99), [255, 0, 0, 255], extra);
    }
    // Without it the corner is transparent.
    const transparent = await decodeImage((await get(url('f=png'))).body);
    assert.equal(pixelAt(transparent, 0, 0)[3], 0);
    const redJpeg = await decodeImage((await get(url('f=jpg&bkg=ff0000'))).body);
    assert.ok(countColourPixels(redJpeg, [255, 0, 0], 30) > 200 * 100 * 0.5, 'JPEG background is red');
  });

  await t.test('a JPEG without bkg has a white background (JPEG has no alpha)', async () => {
    const reply = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, devicePixelRatio: 1, f: 'jpg' }));
    assertOk(reply, 'image/jpeg');
    const jpeg = await decodeImage(reply.body);
    assert.ok(pixelAt(jpeg, 0, 0).slice(0, 3).every((channel) => channel > 240), `corner is ${pixelAt(jpeg, 0, 0).join(',')}`);
  });

  await t.test('encoding=url and encoding=base64', async () => {
    const plain = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100 }));
    const url = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, encoding: 'url' }));
    const b64 = await get(chartUrl(base, { c: Buffer.from(BAR_JSON).toString('base64'), w: 200, h: 100, encoding: 'base64' }));
    for (const reply of [plain, url, b64]) await assertPng(reply, 400, 200);
    assert.equal(url.headers.get('etag'), plain.headers.get('etag'));
    assert.equal(b64.headers.get('etag'), plain.headers.get('etag'));

    // These labels make the base64 text hold '+' ('>>>') and, in the URL-safe alphabet, '_' ('?>?').
    const etagOf = async (chart: object) =>
      (await post(`${base}/chart`, JSON.stringify({ chart, w: 200, h: 100 }), 'application/json')).headers.get('etag');
    const plusChart = { type: 'bar', data: { labels: ['>>>'], datasets: [{ data: [1] }] } };
    const plusText = Buffer.from(JSON.stringify(plusChart)).toString('base64');
    assert.ok(plusText.includes('+'));
    // An unencoded '+' in the query string, and one a client turned into a space.
    for (const c of [plusText, plusText.replace(/\+/g, '%20')]) {
      const reply = await rawGet(base, `/chart?encoding=base64&w=200&h=100&c=${c}`);
      await assertPng(reply, 400, 200);
      assert.equal(reply.headers.get('etag'), await etagOf(plusChart));
    }
    const urlSafeChart = { type: 'bar', data: { labels: ['?>?'], datasets: [{ data: [1] }] } };
    const urlSafeText = Buffer.from(JSON.stringify(urlSafeChart)).toString('base64url');
    assert.ok(urlSafeText.includes('_'));
    const urlSafe = await get(chartUrl(base, { c: urlSafeText, w: 200, h: 100, encoding: 'base64' }));
    await assertPng(urlSafe, 400, 200);
    assert.equal(urlSafe.headers.get('etag'), await etagOf(urlSafeChart));
  });

  await t.test('POST JSON with chart as an object, as JSON text, and as a JavaScript literal', async () => {
    const params = { width: 300, height: 200, devicePixelRatio: 1 };
    const asObject = await post(`${base}/chart`, JSON.stringify({ chart: BAR, ...params }), 'application/json');
    const asJsonText = await post(`${base}/chart`, JSON.stringify({ chart: BAR_JSON, ...params }), 'application/json');
    const asLiteral = await post(`${base}/chart`, JSON.stringify({ chart: BAR_LITERAL, ...params }), 'application/json');
    const shortNames = await post(`${base}/chart`, JSON.stringify({ c: BAR_LITERAL, w: '300', h: '200', devicePixelRatio: '1' }), 'application/json; charset=utf-8');
    for (const reply of [asObject, asJsonText, asLiteral, shortNames]) await assertPng(reply, 300, 200);
    const tag = asObject.headers.get('etag');
    assert.equal(asJsonText.headers.get('etag'), tag);
    assert.equal(asLiteral.headers.get('etag'), tag);
    assert.equal(shortNames.headers.get('etag'), tag);
    assert.ok(asLiteral.body.equals(asObject.body), 'a literal renders exactly as the object');

    const svg = await post(`${base}/chart`, JSON.stringify({ chart: BAR, format: 'svg', backgroundColor: '#ff0000' }), 'application/json');
    assertOk(svg, 'image/svg+xml');
    assert.match(svg.body.toString(), /<svg[^>]*width="500"[^>]*height="300"/);
  });

  await t.test('POST form-urlencoded', async () => {
    const form = new URLSearchParams({ c: BAR_JSON, w: '300', h: '200', devicePixelRatio: '1' }).toString();
    const reply = await post(`${base}/chart`, form, 'application/x-www-form-urlencoded');
    await assertPng(reply, 300, 200);
    const viaGet = await get(chartUrl(base, { c: BAR_JSON, w: 300, h: 200, devicePixelRatio: 1 }));
    assert.equal(reply.headers.get('etag'), viaGet.headers.get('etag'));
  });

  await t.test(
    'POST form-urlencoded decodes "+" as a space, as HTML forms and URLSearchParams encode it',
    async () => {
      const spaced = "{type: 'bar', data: {labels: ['a b'], datasets: [{data: [1]}]}}";
      const reply = await post(`${base}/chart`, new URLSearchParams({ c: spaced, w: '200', h: '100' }).toString(), 'application/x-www-form-urlencoded');
      assert.equal(reply.status, 200, reply.body.subarray(0, 300).toString());
      const object = { type: 'bar', data: { labels: ['a b'], datasets: [{ data: [1] }] } };
      const viaJson = await post(`${base}/chart`, JSON.stringify({ chart: object, w: 200, h: 100 }), 'application/json');
      assert.equal(reply.headers.get('etag'), viaJson.headers.get('etag'));
    },
  );

  await t.test('unknown parameters and body fields are ignored', async () => {
    const plain = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100 }));
    const extra = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, ref: 'qc-js', key: 'secret', foo: 'bar' }));
    await assertPng(extra, 400, 200);
    assert.equal(extra.headers.get('etag'), plain.headers.get('etag'));
    const body = await post(`${base}/chart`, JSON.stringify({ chart: BAR, width: 200, height: 100, ref: 'x', key: 'y', foo: { deep: [1] } }), 'application/json');
    await assertPng(body, 400, 200);
    assert.equal(body.headers.get('etag'), plain.headers.get('etag'));
  });

  await t.test('ETag is the same for GET and POST, and If-None-Match answers 304 with no body', async () => {
    const getReply = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, f: 'png' }));
    const postReply = await post(`${base}/chart`, JSON.stringify({ chart: BAR, width: 200, height: 100, format: 'png' }), 'application/json');
    const etag = getReply.headers.get('etag');
    assert.match(etag ?? '', /^"[^"]+"$/, 'a strong ETag');
    assert.equal(postReply.headers.get('etag'), etag);
    const other = await get(chartUrl(base, { c: BAR_JSON, w: 201, h: 100 }));
    assert.notEqual(other.headers.get('etag'), etag, 'another size, another tag');

    for (const ifNoneMatch of [etag!, `W/${etag!}`, `"nope", ${etag!}`, '*']) {
      const notModified = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100, f: 'png' }), { 'if-none-match': ifNoneMatch });
      assert.equal(notModified.status, 304, ifNoneMatch);
      assert.equal(notModified.body.length, 0);
      assert.equal(notModified.headers.get('etag'), etag);
      assert.equal(notModified.headers.get('cache-control'), 'public, max-age=3600');
    }
    const postNotModified = await post(`${base}/chart`, JSON.stringify({ chart: BAR_LITERAL, width: 200, height: 100 }), 'application/json', {
      'if-none-match': etag!,
    });
    assert.equal(postNotModified.status, 304);
    assert.equal(postNotModified.body.length, 0);
    const mismatch = await get(chartUrl(base, { c: BAR_JSON, w: 200, h: 100 }), { 'if-none-match': '"something-else"' });
    await assertPng(mismatch, 400, 200);
  });

  await t.test('Cache-Control is public with the configured max-age', async () => {
    const reply = await get(chartUrl(base, { c: BAR_JSON, w: 100, h: 100 }));
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('cache-control'), 'public, max-age=3600');
    assert.ok(reply.headers.get('x-request-id'), 'every reply names its request');
  });

  await t.test("a '+' in an unencoded query value stays a plus sign", async () => {
    const literal = "{type:'bar',data:{labels:['a+b'],datasets:[{data:[1e+2,2]}]}}";
    const raw = await rawGet(base, `/chart?w=200&h=100&c=${literal}`);
    await assertPng(raw, 400, 200);
    const plus = { type: 'bar', data: { labels: ['a+b'], datasets: [{ data: [100, 2] }] } };
    const space = { type: 'bar', data: { labels: ['a b'], datasets: [{ data: [100, 2] }] } };
    const viaPost = await post(`${base}/chart`, JSON.stringify({ chart: plus, w: 200, h: 100 }), 'application/json');
    const withSpace = await post(`${base}/chart`, JSON.stringify({ chart: space, w: 200, h: 100 }), 'application/json');
    assert.equal(raw.headers.get('etag'), viaPost.headers.get('etag'), "the label is 'a+b'");
    assert.notEqual(raw.headers.get('etag'), withSpace.headers.get('etag'));
    // Through fetch too (which percent-encodes the quotes but leaves '+').
    await assertPng(await get(`${base}/chart?w=200&h=100&c=${literal}`), 400, 200);
  });

  await t.test("a '+' that meant a space (URLSearchParams) still renders when the config needs it to parse", async () => {
    // quickchart-js encodes with URLSearchParams: "(v) => v" arrives as "(v)+=>+v".
    const config = "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:(v) => v + '%'}}]}}}";
    const query = new URLSearchParams({ c: config, w: '200', h: '100' }).toString();
    assert.match(query, /%29\+%3D%3E\+/, 'the arrow is sent with plus signs');
    const response = await get(`${base}/chart?${query}`);
    await assertPng(response, 400, 200);
    const spaced = await post(`${base}/chart`, JSON.stringify({ chart: config, w: 200, h: 100 }), 'application/json');
    assert.equal(response.headers.get('etag'), spaced.headers.get('etag'), 'the same chart as the config sent with spaces');
  });

  await t.test('/healthz and /readyz', async () => {
    const health = await get(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body.toString()), { status: 'ok' });
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body.toString()), { ready: true });
  });

  await t.test('unknown routes are 404 NOT_FOUND, and nothing operational is on the public port', async () => {
    for (const path of ['/nope', '/metrics', '/debug', '/debug/resources', '/debug/heap', '/chart/extra']) {
      await assertErrorJson(await get(`${base}${path}`), 404, 'NOT_FOUND');
    }
    await assertErrorJson(await post(`${base}/metrics`, '{}', 'application/json'), 404, 'NOT_FOUND');
    // An <img> asking for an unknown route still gets JSON: there is no chart size to draw at.
    await assertErrorJson(await get(`${base}/nope`, { accept: 'image/*' }), 404, 'NOT_FOUND');
  });
});
