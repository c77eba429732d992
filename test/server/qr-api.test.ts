import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeImage, pixelAt } from '../helpers/images.js';
import { decodeQr } from '../helpers/qr.js';
import { assertErrorReply, fetchReply } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';

/**
 * GET /qr with QuickChart's parameters: every code is read back with jsQR (an
 * independent decoder) to the text it was asked to hold.
 */

test('GET /qr', async (t) => {
  // One worker: a request can only see state an earlier one left in the same process.
  const service = await startTestService({ workers: 1 });
  t.after(() => service.close());
  const qr = (params: Record<string, string>) => fetchReply(`${service.url}/qr?${new URLSearchParams(params).toString().replaceAll('+', '%20')}`);

  await t.test('defaults: a 150 px PNG, black on white, 4 modules of margin, that reads back to its text', async () => {
    const reply = await qr({ text: 'https://example.com/a?b=1&c=2' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'image/png');
    const image = await decodeImage(reply.body);
    assert.equal(image.width, 150);
    assert.equal(image.height, 150);
    assert.deepEqual(pixelAt(image, 2, 2), [255, 255, 255, 255], 'the quiet zone is white');
    const decoded = await decodeQr(reply.body);
    assert.equal(decoded?.data, 'https://example.com/a?b=1&c=2');
    // Version 2 (25 modules) + 2 × 4 margin = 33 modules over 150 px: the finder pattern starts 4 modules in.
    const module = 150 / (decoded!.version * 4 + 17 + 8);
    assert.deepEqual(pixelAt(image, Math.ceil(4 * module) + 1, Math.ceil(4 * module) + 1).slice(0, 3), [0, 0, 0]);
  });

  await t.test('text with spaces, unicode and emoji reads back byte for byte', async () => {
    for (const text of ['hello world', 'Grüße, 世界 🌍', 'WIFI:T:WPA;S:my net;P:p@ss;;', '+1 (555) 010-9999']) {
      const decoded = await decodeQr((await qr({ text })).body);
      assert.equal(decoded?.data, text);
    }
  });

  await t.test('size sets the width in pixels; above 3000 it is drawn at 3000, as QuickChart does', async () => {
    for (const [size, expected] of [['300', 300], ['1000', 1000], ['5000', 3000]] as const) {
      const reply = await qr({ text: 'sized', size });
      assert.equal(reply.status, 200);
      const image = await decodeImage(reply.body);
      assert.equal(image.width, expected, `size=${size}`);
      assert.equal((await decodeQr(reply.body))?.data, 'sized');
    }
  });

  await t.test('margin and ecLevel change the symbol; colours and a transparent light are drawn', async () => {
    const noMargin = await decodeImage((await qr({ text: 'm', margin: '0', size: '210' })).body);
    assert.deepEqual(pixelAt(noMargin, 1, 1).slice(0, 3), [0, 0, 0], 'with margin 0 the finder pattern touches the corner');
    const low = await decodeQr((await qr({ text: 'the same text at two levels', ecLevel: 'L' })).body);
    const high = await decodeQr((await qr({ text: 'the same text at two levels', ecLevel: 'H' })).body);
    assert.ok(high!.version > low!.version, `level H needs a larger symbol: version ${high?.version} > ${low?.version}`);
    const coloured = await qr({ text: 'colours', dark: 'ff0000', light: '#00ff00', size: '300' });
    const image = await decodeImage(coloured.body);
    assert.deepEqual(pixelAt(image, 2, 2), [0, 255, 0, 255]);
    assert.equal((await decodeQr(coloured.body))?.data, 'colours');
    const transparent = await qr({ text: 'clear', light: 'transparent', size: '300' });
    const clear = await decodeImage(transparent.body);
    assert.equal(pixelAt(clear, 2, 2)[3], 0, 'the light modules are transparent');
    assert.equal((await decodeQr(transparent.body))?.data, 'clear');
    assert.equal(pixelAt(await decodeImage((await qr({ text: 'clear', light: 'ffffff00' })).body), 2, 2)[3], 0);
  });

  await t.test('format=svg is an SVG that rasterizes to the same code', async () => {
    const reply = await qr({ text: 'vector', format: 'svg', size: '400' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'image/svg+xml');
    assert.match(reply.body.toString('utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="400" height="400"/);
    assert.equal((await decodeQr(reply.body))?.data, 'vector');
  });

  await t.test('mode=sjis stores kanji in kanji mode, and leaves later codes as they were', async () => {
    const before = await qr({ text: '日本語' });
    const sjis = await qr({ text: '日本語', mode: 'sjis' });
    const after = await qr({ text: '日本語' });
    const decoded = await decodeQr(sjis.body);
    assert.equal(decoded?.data, '日本語');
    assert.deepEqual(decoded?.chunks.map((chunk) => chunk.type), ['kanji']);
    assert.deepEqual((await decodeQr(before.body))?.chunks.map((chunk) => chunk.type), ['byte']);
    assert.ok(before.body.equals(after.body), 'the same request draws the same bytes after a kanji-mode one');
    assert.equal(before.headers.get('etag'), after.headers.get('etag'));
  });

  await t.test('caching: a strong ETag from the parameters, 304 on If-None-Match, public Cache-Control', async () => {
    const first = await qr({ text: 'cache me', size: '200' });
    const etag = first.headers.get('etag')!;
    assert.match(etag, /^"[\w-]{32}"$/);
    assert.match(first.headers.get('cache-control') ?? '', /^public, max-age=\d+$/);
    const again = await fetchReply(`${service.url}/qr?text=cache%20me&size=200`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.notEqual((await qr({ text: 'cache me', size: '201' })).headers.get('etag'), etag);
  });

  await t.test('bad parameters are coded 400s', async () => {
    assertErrorReply(await fetchReply(`${service.url}/qr`), 400, 'QR_TEXT_MISSING', 'no text');
    assertErrorReply(await qr({ text: '' }), 400, 'QR_TEXT_MISSING', 'empty text');
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ text: 'x', ecLevel: 'Z' }, 'PARAM_INVALID', 'ecLevel'],
      [{ text: 'x', dark: 'red' }, 'PARAM_INVALID', 'dark'],
      [{ text: 'x', light: 'ggg' }, 'PARAM_INVALID', 'light'],
      [{ text: 'x', margin: '-1' }, 'PARAM_INVALID', 'margin'],
      [{ text: 'x', margin: '1000000' }, 'PARAM_INVALID', 'margin'],
      [{ text: 'x', size: 'big' }, 'PARAM_INVALID', 'size'],
      [{ text: 'x', format: 'gif' }, 'FORMAT_UNSUPPORTED', 'format'],
      [{ text: 'x', format: 'constructor' }, 'FORMAT_UNSUPPORTED', 'format'],
      [{ text: 'x', mode: 'kanji' }, 'PARAM_INVALID', 'mode'],
      [{ text: 'abc', mode: 'sjis' }, 'PARAM_INVALID', 'mode'],
      [{ text: 'a'.repeat(3000) }, 'QR_TEXT_TOO_LONG', 'text'],
      [{ text: 'a'.repeat(8000) }, 'QR_TEXT_TOO_LONG', 'text'],
    ];
    for (const [params, code, name] of cases) {
      const reply = await qr(params);
      assertErrorReply(reply, 400, code, JSON.stringify(params).slice(0, 60));
      assert.match(JSON.parse(reply.body.toString()).message as string, new RegExp(name));
    }
  });

  await t.test('QR renders are counted under their own engine', async () => {
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    assert.match(metrics, /chartd_render_duration_seconds_count\{engine="qrcode",format="png"\} [1-9]/);
    assert.match(metrics, /chartd_render_duration_seconds_count\{engine="qrcode",format="svg"\} [1-9]/);
    assert.match(metrics, /chartd_requests_total\{route="\/qr",method="GET",status="200"\} [1-9]/);
    assert.match(metrics, /chartd_render_errors_total\{code="QR_TEXT_MISSING"\} [1-9]/);
  });
});
