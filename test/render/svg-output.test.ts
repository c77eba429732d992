import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { renderChart, type RenderRequest } from '../../src/index.js';
import { arcSweep } from '../../src/render/vector-arcs.js';
import { countColourPixels, decodeImage, differingFraction, pdfContentStreams, type DecodedImage } from '../helpers/images.js';

/**
 * SVG output: text written as text (the strings the chart drew, with their fonts,
 * anchors and baselines), other scripts as outlines, arcs as curves. Each SVG is
 * rasterised by librsvg (an independent renderer) and compared with chartd's own
 * PNG of the same chart.
 */

async function svgAndPng(request: Omit<RenderRequest, 'format'>): Promise<{ svg: string; fromSvg: DecodedImage; png: DecodedImage }> {
  const base = { backgroundColor: 'white', ...request };
  const svgBody = (await renderChart({ ...base, format: 'svg' })).body;
  const pngBody = (await renderChart({ ...base, format: 'png', devicePixelRatio: 1 })).body;
  return { svg: svgBody.toString('utf8'), fromSvg: await decodeImage(svgBody), png: await decodeImage(pngBody) };
}

function texts(svg: string): string[] {
  return [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((match) => match[1]!);
}

/** Bounding box of the pixels darker than light grey. */
function inkBox(image: DecodedImage): { left: number; top: number; right: number; bottom: number } {
  let left = image.width;
  let top = image.height;
  let right = -1;
  let bottom = -1;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const i = (y * image.width + x) * 4;
      if (image.pixels[i]! < 160 && image.pixels[i + 3]! > 128) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  return { left, top, right, bottom };
}

const BAR_CHART = {
  type: 'bar',
  data: { labels: ['office fifty', 'Ελληνικά', 'a&b <c> "d"'], datasets: [{ label: 'Sales 2026', data: [3, 5, 2] }] },
  options: { title: { display: true, text: 'Quarterly' } },
};

describe('svg text', () => {
  test('labels, legend and title are <text> with the strings the chart drew, escaped', async () => {
    const { svg } = await svgAndPng({ chart: BAR_CHART, width: 500, height: 300, version: 2 });
    const strings = texts(svg);
    for (const expected of ['office fifty', 'Ελληνικά', 'a&amp;b &lt;c&gt; &quot;d&quot;', 'Sales 2026', 'Quarterly']) {
      assert.ok(strings.includes(expected), `"${expected}" is one text element: ${strings.join(' | ')}`);
    }
    assert.doesNotMatch(svg, /<c>/);
    assert.match(svg, /font-family="'Noto Sans', 'Noto Sans SC', sans-serif"/, 'the families are named, a generic family last');
    assert.match(svg, /font-weight="bold"[^>]*>Quarterly</, 'the title keeps its weight');
    assert.doesNotMatch(svg, /\n\t/, 'no pretty-printing');
  });

  test('a label that tries to close the text element stays text', async () => {
    const chart = { type: 'bar', data: { labels: ['</text><script>alert(1)</script>'], datasets: [{ data: [1] }] } };
    const { svg } = await svgAndPng({ chart, width: 300, height: 200 });
    assert.doesNotMatch(svg, /<script/);
    assert.ok(texts(svg).includes('&lt;/text&gt;&lt;script&gt;alert(1)&lt;/script&gt;'));
  });

  test('control characters a config may carry never make the XML invalid', async () => {
    const chart = { type: 'bar', data: { labels: ['a\u0001b\u0008c\uFFFF'], datasets: [{ label: 'x\u0000y', data: [1] }] } };
    const { fromSvg } = await svgAndPng({ chart, width: 300, height: 200 });
    assert.equal(fromSvg.width, 300, 'librsvg parses the document');
  });

  for (const version of [2, 4] as const) {
    test(`Chart.js ${version}: text sits where the PNG draws it (anchors and baselines)`, async () => {
      // Only text: a centred title and right-aligned tick labels.
      const chart = {
        type: 'bar',
        data: { labels: ['Alpha', 'Beta'], datasets: [{ data: [10, 20], backgroundColor: 'white', borderWidth: 0 }] },
        options:
          version === 2
            ? { legend: { display: false }, title: { display: true, text: 'Monthly Revenue', fontSize: 28 }, scales: { xAxes: [{ gridLines: { display: false } }], yAxes: [{ gridLines: { display: false } }] } }
            : { plugins: { legend: { display: false }, title: { display: true, text: 'Monthly Revenue', font: { size: 28 } } }, scales: { x: { grid: { display: false } }, y: { grid: { display: false } } } },
      };
      const { fromSvg, png } = await svgAndPng({ chart, width: 600, height: 300, version });
      const a = inkBox(fromSvg);
      const b = inkBox(png);
      // librsvg draws with the system's sans-serif, not the bundled Noto Sans: widths differ a little, positions must not.
      for (const side of ['left', 'top', 'right', 'bottom'] as const) {
        assert.ok(Math.abs(a[side] - b[side]) <= 4, `ink ${side}: svg ${a[side]}, png ${b[side]}`);
      }
      assert.ok(differingFraction(fromSvg, png) < 0.03, `differing ${differingFraction(fromSvg, png)}`);
    });
  }

  test('CJK and Arabic are outlines, not text a viewer may lack fonts for', async () => {
    const chart = { type: 'bar', data: { labels: ['日本語', 'مرحبا', 'Latin'], datasets: [{ label: 'x', data: [1, 2, 3] }] } };
    const { svg, fromSvg, png } = await svgAndPng({ chart, width: 500, height: 300 });
    const strings = texts(svg);
    assert.ok(strings.includes('Latin'));
    assert.ok(!strings.some((text) => /[\u3000-\u9fff\u0600-\u06ff\u2f00-\u2fdf\ufb50-\ufeff]/.test(text)), `no CJK or Arabic text: ${strings.join(' | ')}`);
    assert.ok(differingFraction(fromSvg, png) < 0.03, `the outlines draw as the PNG does: ${differingFraction(fromSvg, png)}`);
  });
});

describe('svgText=outlines', () => {
  test('every glyph is a path: no <text>, and the same picture', async () => {
    const { svg, fromSvg, png } = await svgAndPng({ chart: BAR_CHART, width: 500, height: 300, version: 2, svgText: 'outlines' });
    assert.doesNotMatch(svg, /<text/);
    assert.ok(differingFraction(fromSvg, png) < 0.02, `differing ${differingFraction(fromSvg, png)}`);
    const asText = (await renderChart({ chart: BAR_CHART, width: 500, height: 300, version: 2, format: 'svg' })).body;
    assert.ok(asText.length < Buffer.byteLength(svg), 'text is the smaller form');
  });

  test('an unknown svgText is PARAM_INVALID', async () => {
    await assert.rejects(renderChart({ chart: BAR_CHART, format: 'svg', svgText: 'glyphs' }), { code: 'PARAM_INVALID' });
  });
});

describe('svg arcs', () => {
  test('a line chart with 100 point markers is a fraction of the bytes, and draws as the PNG does', async () => {
    const data = Array.from({ length: 100 }, (_, i) => Math.round(50 + 40 * Math.sin(i / 7)));
    const chart = { type: 'line', data: { labels: data.map((_, i) => `p${i}`), datasets: [{ label: 'series', data }] } };
    const { svg } = await svgAndPng({ chart, width: 400, height: 300 });
    // Skia writes a circle as ~26 quadratic segments (540 KB for this chart); one cubic per quarter turn is 4.
    const curves = (svg.match(/[cC]/g) ?? []).length;
    assert.ok(curves >= 100 * 4, `point markers are cubic curves (${curves})`);
    assert.ok(Buffer.byteLength(svg) < 120_000, `${Buffer.byteLength(svg)} bytes`);
    // Without text (whose font differs in librsvg), the markers and lines match the PNG closely.
    const bare = { ...chart, options: { legend: { display: false }, scales: { xAxes: [{ display: false }], yAxes: [{ display: false }] } } };
    const { fromSvg, png } = await svgAndPng({ chart: bare, width: 400, height: 300 });
    assert.ok(differingFraction(fromSvg, png) < 0.01, `differing ${differingFraction(fromSvg, png)}`);
  });

  test('pie and doughnut slices (partial arcs, both directions) draw as the PNG does', async () => {
    for (const type of ['pie', 'doughnut', 'polarArea']) {
      const chart = { type, data: { labels: ['a', 'b', 'c', 'd'], datasets: [{ data: [1, 2, 3, 4] }] }, options: { legend: { display: false } } };
      const { fromSvg, png } = await svgAndPng({ chart, width: 300, height: 300 });
      assert.ok(differingFraction(fromSvg, png) < 0.03, `${type}: differing ${differingFraction(fromSvg, png)}`);
    }
  });

  test('arcSweep follows the canvas specification', () => {
    const TAU = 2 * Math.PI;
    assert.equal(arcSweep(0, TAU, false), TAU);
    assert.equal(arcSweep(0, 3 * TAU, false), TAU, 'past a full turn: the full circle');
    assert.equal(arcSweep(TAU, 0, true), -TAU);
    assert.ok(Math.abs(arcSweep(0, Math.PI / 2, false) - Math.PI / 2) < 1e-12);
    assert.ok(Math.abs(arcSweep(0, Math.PI / 2, true) + (3 * Math.PI) / 2) < 1e-12, 'counterclockwise the long way round');
    assert.ok(Math.abs(arcSweep(Math.PI / 2, 0, false) - (3 * Math.PI) / 2) < 1e-12);
    assert.equal(arcSweep(1, 1, false), 0);
  });
});

test('librsvg and chartd agree on a whole chart with every kind of element', async () => {
  const chart = {
    type: 'line',
    data: { labels: ['Jan', 'Feb', 'Mar', 'Apr'], datasets: [{ label: 'Visitors', data: [5, 9, 4, 7], fill: true, backgroundColor: 'rgba(54,162,235,0.3)' }] },
    options: { plugins: { title: { display: true, text: 'Traffic' } } },
  };
  const { fromSvg, png } = await svgAndPng({ chart, width: 500, height: 300, version: 4 });
  assert.ok(differingFraction(fromSvg, png) < 0.03);
  // A second rasteriser pass at twice the density keeps the same picture: the text scales as vectors do.
  const svg = (await renderChart({ chart, width: 500, height: 300, version: 4, format: 'svg' })).body;
  const { info } = await sharp(svg, { density: 144 }).png().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [1000, 600]);
});

describe('vector backgrounds', () => {
  // An annotation drawn in beforeDraw, as chartjs-plugin-annotation's samples do: the background must go under it.
  const annotated = {
    type: 'bar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ data: [3, 5, 2] }] },
    options: {
      plugins: {
        annotation: {
          common: { drawTime: 'beforeDraw' },
          annotations: { box: { type: 'box', xMin: 0.5, xMax: 1.5, yMin: 0, yMax: 4, backgroundColor: 'rgb(0,128,0)', borderWidth: 0 } },
        },
      },
    },
  };

  test('SVG: the background is under what plugins draw before the chart', async () => {
    const { fromSvg, png } = await svgAndPng({ chart: annotated, width: 400, height: 300, version: 4, backgroundColor: '#ffeeee' });
    const green = countColourPixels(png, [0, 128, 0]);
    assert.ok(green > 2000, `the PNG shows the annotation (${green} px)`);
    assert.ok(countColourPixels(fromSvg, [0, 128, 0]) > green * 0.8, 'so does the SVG');
    assert.ok(countColourPixels(fromSvg, [255, 238, 238]) > 0.3 * 400 * 300, 'with the background around it');
  });

  test('PDF: the background is painted first', async () => {
    const pdf = (await renderChart({ chart: annotated, width: 400, height: 300, version: 4, format: 'pdf', backgroundColor: '#ff0000' })).body;
    const page = (await pdfContentStreams(pdf)).find((stream) => / re\n/.test(stream));
    assert.ok(page, 'a content stream fills rectangles');
    const background = page.indexOf('1 0 0 rg');
    const annotation = page.indexOf('0 .502 0 rg');
    assert.ok(background !== -1 && annotation !== -1, 'both fills are in the page');
    assert.ok(background < annotation, 'the background comes before the annotation');
  });
});
