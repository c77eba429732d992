import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countLiveCharts, renderChart, type RenderRequest } from '../../src/index.js';
import { isOpaque } from '../../src/render/encode.js';
import {
  countColourPixels,
  countDrawnPixels,
  decodeImage,
  differingFraction,
  pdfContentStreams,
  pixelAt,
  type DecodedImage,
} from '../helpers/images.js';

const RED: [number, number, number] = [255, 0, 0];
const GREEN: [number, number, number] = [0, 255, 0];

/** Three red bars: the colour check needs a known fill that covers a good part of the plot. */
function redBars(): Record<string, unknown> {
  return {
    type: 'bar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'red', data: [3, 5, 2], backgroundColor: 'rgb(255,0,0)' }] },
  };
}

async function render(request: Omit<RenderRequest, 'chart'> & { chart?: unknown }) {
  const result = await renderChart({ chart: redBars(), ...request });
  assert.equal(countLiveCharts(), 0, 'every render destroys its chart');
  return result;
}

/** The chunks of a WebP file, in order: 'VP8 ' holds a lossy image, 'VP8L' a lossless one, 'ALPH' a lossy image's alpha plane. */
function webpChunks(body: Buffer): string[] {
  assert.equal(body.subarray(0, 4).toString('latin1') + body.subarray(8, 12).toString('latin1'), 'RIFFWEBP');
  const chunks: string[] = [];
  for (let at = 12; at + 8 <= body.length; ) {
    chunks.push(body.subarray(at, at + 4).toString('latin1'));
    const size = body.readUInt32LE(at + 4);
    at += 8 + size + (size & 1); // chunks are padded to an even length
  }
  return chunks;
}

/** 'lossless', 'lossy' or 'lossy with alpha', from the chunks. */
function webpKind(body: Buffer): string {
  const chunks = webpChunks(body);
  if (chunks.includes('VP8L')) return 'lossless';
  assert.ok(chunks.includes('VP8 '), `an image chunk in ${chunks.join(', ')}`);
  return chunks.includes('ALPH') ? 'lossy with alpha' : 'lossy';
}

/** Pixels whose alpha differs, or whose colour differs where they are visible at all. */
function differingPixels(a: DecodedImage, b: DecodedImage): number {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let differing = 0;
  for (let i = 0; i < a.pixels.length; i += 4) {
    const alpha = a.pixels[i + 3]!;
    if (alpha !== b.pixels[i + 3]) differing++;
    else if (alpha > 0 && a.pixels.readUIntBE(i, 3) !== b.pixels.readUIntBE(i, 3)) differing++;
  }
  return differing;
}

/** A data URI's payload, after checking its prefix. */
function dataUriPayload(body: Buffer): Buffer {
  const text = body.toString('latin1');
  const prefix = 'data:image/png;base64,';
  assert.ok(text.startsWith(prefix), `starts with ${prefix}: ${text.slice(0, 40)}`);
  const payload = text.slice(prefix.length);
  assert.match(payload, /^[A-Za-z0-9+/]+={0,2}$/, 'payload is plain base64');
  return Buffer.from(payload, 'base64');
}

async function decodeBody(format: string, body: Buffer): Promise<DecodedImage> {
  return decodeImage(format === 'base64' ? dataUriPayload(body) : body);
}

/** Drawn pixels against the corner colour: transparent for PNG/WebP, whatever fills an opaque image. */
function drawnFraction(image: DecodedImage): number {
  const [r, g, b, a] = pixelAt(image, 0, 0);
  const background = a === 0 ? 'transparent' : ([r, g, b] as [number, number, number]);
  return countDrawnPixels(image, background) / (image.width * image.height);
}

function corners(image: DecodedImage): Array<[number, number, number, number]> {
  const right = image.width - 1;
  const bottom = image.height - 1;
  return [pixelAt(image, 0, 0), pixelAt(image, right, 0), pixelAt(image, 0, bottom), pixelAt(image, right, bottom)];
}

function assertNear(actual: [number, number, number, number], expected: [number, number, number, number], tolerance: number, what: string): void {
  const close = actual.every((value, i) => Math.abs(value - expected[i]!) <= tolerance);
  assert.ok(close, `${what}: expected ~${expected.join(',')}, got ${actual.join(',')}`);
}

const RASTER = [
  { format: 'png', contentType: 'image/png', decoded: 'png' },
  { format: 'webp', contentType: 'image/webp', decoded: 'webp' },
  { format: 'jpeg', contentType: 'image/jpeg', decoded: 'jpeg' },
  { format: 'base64', contentType: 'text/plain; charset=utf-8', decoded: 'png' },
] as const;

describe('raster formats', () => {
  for (const { format, contentType, decoded } of RASTER) {
    test(`${format}: default size is 500x300 CSS px at devicePixelRatio 2, with red bars`, async () => {
      const { body, contentType: type } = await render({ format });
      assert.equal(type, contentType);
      const image = await decodeBody(format, body);
      assert.equal(image.format, decoded);
      assert.equal(image.width, 1000);
      assert.equal(image.height, 600);
      // Three bars cover about a third of the image; axes, ticks and legend add a little.
      assert.ok(drawnFraction(image) > 0.25, `drawn fraction ${drawnFraction(image)}`);
      const red = countColourPixels(image, RED) / (image.width * image.height);
      assert.ok(red > 0.25, `red fraction ${red}`);
    });

    test(`${format}: custom width, height and devicePixelRatio`, async () => {
      const small = await decodeBody(format, (await render({ format, width: 400, height: 200, devicePixelRatio: 1 })).body);
      assert.deepEqual([small.width, small.height], [400, 200]);
      assert.ok(countColourPixels(small, RED) > 0.2 * 400 * 200);
      const dense = await decodeBody(format, (await render({ format, width: '200', height: '100', devicePixelRatio: '3' })).body);
      assert.deepEqual([dense.width, dense.height], [600, 300]);
      assert.ok(countColourPixels(dense, RED) > 0.15 * 600 * 300);
    });

    test(`${format}: backgroundColor fills every corner, opaque`, async () => {
      const image = await decodeBody(format, (await render({ format, backgroundColor: '#00ff00' })).body);
      for (const corner of corners(image)) assertNear(corner, [0, 255, 0, 255], 8, `${format} corner`);
      // The fill is behind the chart, not over it.
      assert.ok(countColourPixels(image, RED) > 0.25 * image.width * image.height);
    });
  }

  test('png, webp and base64 are transparent by default', async () => {
    for (const format of ['png', 'webp', 'base64']) {
      const image = await decodeBody(format, (await render({ format })).body);
      for (const corner of corners(image)) assert.equal(corner[3], 0, `${format} corner alpha`);
    }
  });

  test('backgroundColor given as bare hex (query strings drop "#") is the same colour', async () => {
    const image = await decodeImage((await render({ backgroundColor: '00ff00' })).body);
    assertNear(pixelAt(image, 0, 0), [0, 255, 0, 255], 0, 'corner');
    assert.ok(countColourPixels(image, GREEN, 0) > 0.3 * image.width * image.height);
  });

  test(
    'jpeg without backgroundColor gets white corners, not black',
    async () => {
      const image = await decodeImage((await render({ format: 'jpeg' })).body);
      for (const corner of corners(image)) assertNear(corner, [255, 255, 255, 255], 8, 'jpeg corner');
    },
  );

  test('a transparent chart is lossless webp: the png\'s exact pixels', async () => {
    const [png, webp] = await Promise.all([render({ format: 'png' }), render({ format: 'webp' })]);
    assert.equal(webpKind(webp.body), 'lossless');
    const [fromPng, fromWebp] = [await decodeImage(png.body), await decodeImage(webp.body)];
    assert.equal(differingPixels(fromPng, fromWebp), 0);
  });

  test('an opaque chart is lossy webp (quality 90): looks like the png, in fewer bytes', async () => {
    const [png, webp] = await Promise.all([render({ format: 'png', backgroundColor: 'white' }), render({ format: 'webp', backgroundColor: 'white' })]);
    assert.equal(webpKind(webp.body), 'lossy');
    const differing = differingFraction(await decodeImage(png.body), await decodeImage(webp.body));
    // Chroma subsampling softens the red bars' edges, as with Skia's own encoder at quality 90.
    assert.ok(differing < 0.06, `${differing} of the pixels differ visibly`);
    assert.ok(webp.body.length < png.body.length, `webp ${webp.body.length} bytes, png ${png.body.length}`);
  });

  test('one translucent pixel is enough to make webp lossless', async () => {
    // A background at 99 % opacity leaves no pixel opaque: lossy WebP would quantise that alpha plane.
    const webp = await render({ format: 'webp', backgroundColor: 'rgba(255,255,255,0.99)' });
    assert.equal(webpKind(webp.body), 'lossless');
    assert.equal(pixelAt(await decodeImage(webp.body), 0, 0)[3], 252, 'alpha kept exactly');
  });

  test('overlapping renders: each encoder has its pixels before the chart is destroyed and the canvas reused', async () => {
    const green = { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ data: [3, 5, 2], backgroundColor: 'rgb(0,255,0)' }] } };
    for (const format of ['png', 'webp', 'jpeg'] as const) {
      // Started together: the second draws on the first's canvas while the first may still be encoding.
      const [red, second] = await Promise.all([render({ format }), render({ format, chart: green })]);
      const [redImage, greenImage] = [await decodeImage(red.body), await decodeImage(second.body)];
      const area = redImage.width * redImage.height;
      assert.ok(countColourPixels(redImage, RED) > 0.1 * area && countColourPixels(redImage, GREEN) === 0, `${format}: the first render shows its red bars only`);
      assert.ok(countColourPixels(greenImage, GREEN) > 0.1 * area && countColourPixels(greenImage, RED) === 0, `${format}: the second shows its green bars only`);
    }
  });

  test('isOpaque looks at every alpha byte, not the corners', () => {
    const pixels = new Uint8ClampedArray(64 * 64 * 4).fill(255);
    assert.equal(isOpaque(pixels), true);
    pixels[(32 * 64 + 32) * 4 + 3] = 254;
    assert.equal(isOpaque(pixels), false);
    assert.equal(isOpaque(pixels.subarray(0, 32 * 64 * 4)), true, 'the half above it');
  });

  test('base64 holds the same PNG as format png', async () => {
    const [png, base64] = await Promise.all([render({ format: 'png' }), render({ format: 'base64' })]);
    const fromUri = dataUriPayload(base64.body);
    assert.equal(fromUri.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
    assert.equal(differingFraction(await decodeImage(png.body), await decodeImage(fromUri)), 0);
  });
});

describe('svg', () => {
  test('is vector: paths, no embedded raster, text as text', async () => {
    const { body, contentType } = await render({ format: 'svg' });
    assert.equal(contentType, 'image/svg+xml');
    const svg = body.toString('utf8');
    assert.match(svg, /<svg[\s>]/);
    assert.match(svg, /width="500"/);
    assert.match(svg, /height="300"/);
    assert.ok((svg.match(/<path/g) ?? []).length >= 3, 'at least one path per bar');
    assert.doesNotMatch(svg, /<image/);
    assert.doesNotMatch(svg, /data:image|base64/);
    assert.match(svg, /<text [^>]*>red<\/text>/, 'the legend label is text');
    // The bars are filled red in the vector data itself.
    assert.match(svg, /fill="(?:#ff0000|#f00|rgb\(255,\s*0,\s*0\)|red)"/i);
  });

  test('rasterizes (independent renderer) to a non-blank 500x300 image; devicePixelRatio does not apply', async () => {
    const image = await decodeImage((await render({ format: 'svg', devicePixelRatio: 3 })).body);
    assert.equal(image.format, 'svg');
    assert.deepEqual([image.width, image.height], [500, 300]);
    assert.ok(drawnFraction(image) > 0.25, `drawn fraction ${drawnFraction(image)}`);
    assert.ok(countColourPixels(image, RED) > 0.25 * 500 * 300);
    for (const corner of corners(image)) assert.equal(corner[3], 0, 'transparent by default');
  });

  test('custom size and backgroundColor', async () => {
    const image = await decodeImage((await render({ format: 'svg', width: 400, height: 200, backgroundColor: '#00ff00' })).body);
    assert.deepEqual([image.width, image.height], [400, 200]);
    for (const corner of corners(image)) assertNear(corner, [0, 255, 0, 255], 8, 'svg corner');
  });
});

describe('pdf', () => {
  /** The page content stream: the one that positions text or fills paths. */
  async function pageContent(pdf: Buffer): Promise<string> {
    const streams = await pdfContentStreams(pdf);
    const page = streams.find((stream) => / re\n/.test(stream) && /\bf\n/.test(stream));
    assert.ok(page, `a content stream fills rectangles; streams: ${streams.map((s) => s.slice(0, 40)).join(' | ')}`);
    return page;
  }

  test('is a one-page vector PDF of 500x300 pt with path operators, not an embedded image', async () => {
    const { body, contentType } = await render({ format: 'pdf' });
    assert.equal(contentType, 'application/pdf');
    assert.equal(body.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(body.subarray(-32).toString('latin1'), /%%EOF\s*$/);
    const text = body.toString('latin1');
    assert.equal((text.match(/\/Type\s*\/Page\b/g) ?? []).length, 1, 'one page');
    assert.match(text, /\/MediaBox\s*\[0 0 500 300\]/);
    assert.doesNotMatch(text, /\/Subtype\s*\/Image/, 'no image XObject');

    const content = await pageContent(body);
    // Bars are filled rectangles ("x y w h re" then "f"), axes and grid are line segments.
    assert.ok((content.match(/-?[\d.]+ -?[\d.]+ -?[\d.]+ -?[\d.]+ re\n/g) ?? []).length >= 3, 'three bar rectangles');
    assert.match(content, /-?[\d.]+ -?[\d.]+ l\n/, 'line segments');
    assert.match(content, /(?:^|\s)1 0 0 rg\n/, 'red fill colour for the bars');
    assert.doesNotMatch(content, /\/\w+ Do\b/, 'no XObject painted');
  });

  test('custom size sets the page size; devicePixelRatio does not apply', async () => {
    const { body } = await render({ format: 'pdf', width: 400, height: 200, devicePixelRatio: 4 });
    assert.match(body.toString('latin1'), /\/MediaBox\s*\[0 0 400 200\]/);
  });

  test('backgroundColor is a filled green rectangle behind the chart', async () => {
    const plain = await pageContent((await render({ format: 'pdf' })).body);
    const green = await pageContent((await render({ format: 'pdf', backgroundColor: '#00ff00' })).body);
    assert.doesNotMatch(plain, /(?:^|\s)0 1 0 rg\n/);
    assert.match(green, /(?:^|\s)0 1 0 rg\n/);
  });
});

describe('format parameter', () => {
  test('jpg is an alias of jpeg, case-insensitive', async () => {
    const { body, contentType } = await render({ format: 'JPG' });
    assert.equal(contentType, 'image/jpeg');
    assert.equal((await decodeImage(body)).format, 'jpeg');
  });

  test('an unknown format is FORMAT_UNSUPPORTED', async () => {
    await assert.rejects(render({ format: 'gif' }), { name: 'ChartdError', code: 'FORMAT_UNSUPPORTED', message: /gif/ });
    assert.equal(countLiveCharts(), 0);
  });
});
