import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { encodePng } from '../../src/render/encode.js';
import { encodeRgbaPng } from '../../src/render/png-writer.js';
import { decodeImage } from '../helpers/images.js';

describe('PNG writer', () => {
  test('random RGBA (every alpha level) comes back exactly through an independent decoder, at odd sizes', async () => {
    for (const [width, height] of [
      [1, 1],
      [3, 7],
      [257, 5],
      [64, 300],
    ] as const) {
      const pixels = randomBytes(width * height * 4);
      const decoded = await decodeImage(await encodeRgbaPng(pixels, width, height));
      assert.equal(decoded.format, 'png');
      assert.deepEqual([decoded.width, decoded.height], [width, height]);
      assert.ok(decoded.pixels.equals(pixels), `${width}x${height}: the decoded pixels differ`);
    }
  });

  test('either side of the size where the deflate moves to the thread pool, in output of many chunks, the pixels come back exactly', async () => {
    // 8.0 MB of rows is deflated on the calling thread, 8.8 MB on libuv's pool; random pixels do not compress.
    for (const [width, height] of [
      [1000, 2000],
      [1100, 2000],
    ] as const) {
      const pixels = randomBytes(width * height * 4);
      const decoded = await decodeImage(await encodeRgbaPng(pixels, width, height));
      assert.deepEqual([decoded.width, decoded.height], [width, height]);
      assert.ok(decoded.pixels.equals(pixels), `${width}x${height}: the decoded pixels differ`);
    }
  });

  test('the decoder checks chunk CRCs, so a wrong one would have failed the round trip', async () => {
    const png = await encodeRgbaPng(randomBytes(16 * 16 * 4), 16, 16);
    const corrupt = Buffer.from(png);
    // The last byte of IDAT's CRC sits just before IEND (12 bytes: length, type, CRC).
    corrupt[corrupt.length - 13]! ^= 0xff;
    await assert.rejects(decodeImage(corrupt));
  });

  test("a drawn canvas is stored in straight alpha: anti-aliased edges of a transparent chart keep the canvas's colours", async () => {
    const canvas = createCanvas(120, 80);
    const ctx = canvas.getContext('2d');
    ctx.strokeStyle = 'rgba(30, 120, 200, 0.6)';
    ctx.lineWidth = 3;
    ctx.beginPath();
    ctx.arc(60, 40, 30, 0, 2 * Math.PI);
    ctx.stroke();
    const expected = Buffer.from(ctx.getImageData(0, 0, 120, 80).data.buffer);
    const partial = countPartialAlpha(expected);
    assert.ok(partial > 100, `the circle has ${partial} partly transparent pixels to check`);
    const decoded = await decodeImage(await encodePng(canvas));
    assert.ok(decoded.pixels.equals(expected), 'the PNG holds what getImageData reads');
  });

  test('pixels of the wrong length are refused, not written as a broken image', async () => {
    await assert.rejects(encodeRgbaPng(new Uint8Array(10), 2, 2), RangeError);
  });
});

function countPartialAlpha(pixels: Buffer): number {
  let count = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0 && pixels[i]! < 255) count++;
  return count;
}
