import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countLiveCharts, renderChart, type ChartJsMajor } from '../../src/index.js';
import { countColourPixels, decodeImage, differingFraction, type DecodedImage } from '../helpers/images.js';

type Rgb = [number, number, number];

const VERSIONS: ChartJsMajor[] = [2, 3, 4];
const GREEN: Rgb = [0, 200, 0];
const BLUE: Rgb = [0, 0, 255];
const RED: Rgb = [255, 0, 0];
/** Tableau 10's first two colours, QuickChart's Chart.js 2 palette. */
const TABLEAU_BLUE: Rgb = [0x4e, 0x79, 0xa7];
const TABLEAU_ORANGE: Rgb = [0xf2, 0x8e, 0x2b];
/** Chart.js' default font colour (#666), which datalabels 0.7 uses on Chart.js 2. */
const LABEL_GREY: Rgb = [0x66, 0x66, 0x66];

async function renderPng(chart: Record<string, unknown>, version?: ChartJsMajor): Promise<DecodedImage> {
  const { body } = await renderChart({ chart, version });
  assert.equal(countLiveCharts(), 0, 'every render destroys its chart');
  return decodeImage(body);
}

/**
 * Bars of 3, 8 and 2 on a zero-based axis: a line at 5 falls between the first two
 * bar tops. No legend, whose red box would sit above the bars.
 */
function redBars(version: ChartJsMajor, options: Record<string, unknown> = {}): Record<string, unknown> {
  const plugins = { ...(options.plugins as object | undefined), ...(version === 2 ? {} : { legend: { display: false } }) };
  return {
    type: 'bar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'red', data: [3, 8, 2], backgroundColor: 'rgb(255,0,0)' }] },
    options: { ...options, plugins, ...(version === 2 ? { legend: { display: false } } : {}) },
  };
}

/** Row range of a colour within the columns [x0, x1). */
function rowsOf(image: DecodedImage, rgb: Rgb, x0 = 0, x1 = image.width, tolerance = 30): { top: number; bottom: number; rows: number } {
  let top = image.height;
  let bottom = -1;
  let rows = 0;
  for (let y = 0; y < image.height; y++) {
    let hit = false;
    for (let x = x0; x < x1 && !hit; x++) {
      const i = (y * image.width + x) * 4;
      const p = image.pixels;
      hit =
        p[i + 3]! > 128 &&
        Math.abs(p[i]! - rgb[0]) <= tolerance &&
        Math.abs(p[i + 1]! - rgb[1]) <= tolerance &&
        Math.abs(p[i + 2]! - rgb[2]) <= tolerance;
    }
    if (hit) {
      rows++;
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return { top, bottom, rows };
}

function annotatedBars(version: ChartJsMajor): Record<string, unknown> {
  // Chart.js 2 takes annotation 0.5 syntax; 3 and 4 take annotation 1.x / 3.x syntax.
  return version === 2
    ? redBars(version, {
        annotation: {
          annotations: [
            { type: 'line', mode: 'horizontal', scaleID: 'y-axis-0', value: 5, borderColor: 'rgb(0,200,0)', borderWidth: 4 },
          ],
        },
      })
    : redBars(version, {
        plugins: { annotation: { annotations: { l: { type: 'line', yMin: 5, yMax: 5, borderColor: 'rgb(0,200,0)', borderWidth: 4 } } } },
      });
}

describe('chartjs-plugin-annotation', () => {
  for (const version of VERSIONS) {
    test(`Chart.js ${version}: a horizontal line at 5 is drawn only when configured`, async () => {
      const plain = await renderPng(redBars(version), version);
      assert.equal(countColourPixels(plain, GREEN, 30), 0, 'no green without an annotation');

      const annotated = await renderPng(annotatedBars(version), version);
      const green = rowsOf(annotated, GREEN);
      assert.ok(countColourPixels(annotated, GREEN, 30) > 2_000, 'green line pixels');
      // A 4 CSS px line at devicePixelRatio 2: about 8 rows, and horizontal.
      assert.ok(green.rows >= 6 && green.rows <= 12, `green occupies ${green.rows} rows`);
      // Value 5 lies between the tops of bar "a" (3) and bar "b" (8).
      const third = Math.floor(annotated.width / 3);
      const barA = rowsOf(plain, RED, 40, third);
      const barB = rowsOf(plain, RED, third, 2 * third);
      assert.ok(green.top > barB.top && green.bottom < barA.top, `line rows ${green.top}..${green.bottom}, bar tops ${barB.top} and ${barA.top}`);
    });
  }
});

describe('chartjs-plugin-datalabels', () => {
  const labelled = (version: ChartJsMajor): Record<string, unknown> =>
    redBars(version, { plugins: { datalabels: { display: true, color: 'rgb(0,0,255)', font: { size: 30, weight: 'bold' } } } });

  for (const version of VERSIONS) {
    test(`Chart.js ${version}: configured labels are drawn in their colour`, async () => {
      const plain = await renderPng(redBars(version), version);
      assert.equal(countColourPixels(plain, BLUE), 0, 'no blue without labels');
      const image = await renderPng(labelled(version), version);
      // Three bold 30 px digits at devicePixelRatio 2.
      const blue = countColourPixels(image, BLUE);
      assert.ok(blue > 600, `blue label pixels ${blue}`);
    });

    test(`Chart.js ${version}: a bar chart shows no labels unless configured`, async () => {
      const off = redBars(version, { plugins: { datalabels: { display: false } } });
      assert.equal(differingFraction(await renderPng(redBars(version), version), await renderPng(off, version)), 0);
    });
  }

  const pie = (options?: Record<string, unknown>): Record<string, unknown> => ({
    type: 'pie',
    data: { labels: ['a', 'b', 'c'], datasets: [{ data: [3, 8, 2] }] },
    ...(options ? { options } : {}),
  });

  for (const type of ['pie', 'doughnut']) {
    test(`Chart.js 2 ${type} shows value labels by default (QuickChart)`, async () => {
      const chart = { ...pie(), type };
      const hidden = { ...pie({ plugins: { datalabels: { display: false } } }), type };
      const withLabels = await renderPng(chart);
      const withoutLabels = await renderPng(hidden);
      // Three small grey digits inside the slices: a few hundred pixels.
      const difference = differingFraction(withLabels, withoutLabels) * withLabels.width * withLabels.height;
      assert.ok(difference > 150, `${difference} pixels differ`);
      const extraGrey = countColourPixels(withLabels, LABEL_GREY, 30) - countColourPixels(withoutLabels, LABEL_GREY, 30);
      assert.ok(extraGrey > 100, `${extraGrey} more grey label pixels`);
    });
  }

  test('Chart.js 4 pie shows no labels unless configured (datalabels is opt-in there)', async () => {
    const hidden = pie({ plugins: { datalabels: { display: false } } });
    assert.equal(differingFraction(await renderPng(pie(), 4), await renderPng(hidden, 4)), 0);
  });
});

describe('Chart.js 2 default colours', () => {
  test('datasets without colours take Tableau 10, as QuickChart', async () => {
    const chart = {
      type: 'bar',
      data: { labels: ['a', 'b', 'c'], datasets: [{ data: [3, 8, 2] }, { data: [2, 4, 6] }] },
    };
    const image = await renderPng(chart, 2);
    const pixels = image.width * image.height;
    const first = countColourPixels(image, TABLEAU_BLUE, 12);
    const second = countColourPixels(image, TABLEAU_ORANGE, 12);
    assert.ok(first > 0.05 * pixels, `#4E79A7 pixels ${first}`);
    assert.ok(second > 0.05 * pixels, `#F28E2B pixels ${second}`);
  });

  test('explicit colours win over the palette', async () => {
    const image = await renderPng(redBars(2), 2);
    assert.equal(countColourPixels(image, TABLEAU_BLUE, 12), 0);
    assert.ok(countColourPixels(image, RED) > 0.1 * image.width * image.height);
  });
});

describe("QuickChart's further plugins", () => {
  const PINK: Rgb = [0xff, 0x37, 0x84];

  test('outlabeledPie draws its labels outside the pie (Chart.js 2)', async () => {
    const chart = (outlabels: boolean) => ({
      type: outlabels ? 'outlabeledPie' : 'pie',
      data: { labels: ['ONE', 'TWO', 'THREE'], datasets: [{ backgroundColor: ['#FF3784', '#36A2EB', '#4BC0C0'], data: [1, 2, 3] }] },
      options: { legend: { display: false }, plugins: outlabels ? { outlabels: { text: '%l %p', color: 'white' } } : {} },
    });
    const withLabels = await renderPng(chart(true), 2);
    const without = await renderPng(chart(false), 2);
    // The label boxes are filled with their slice's colour: more pink than the slice alone.
    assert.ok(countColourPixels(withLabels, PINK, 20) > 0, 'no pink slice');
    assert.ok(differingFraction(withLabels, without) > 0.05);
  });

  test('doughnutlabel writes in the centre only when configured (Chart.js 2)', async () => {
    const chart = (labels?: unknown) => ({
      type: 'doughnut',
      data: { datasets: [{ data: [1, 2, 3] }] },
      options: { legend: { display: false }, plugins: { datalabels: { display: false }, ...(labels ? { doughnutlabel: { labels } } : {}) } },
    });
    const plain = await renderPng(chart(), 2);
    const labelled = await renderPng(chart([{ text: '550', font: { size: 40 }, color: 'rgb(0,0,255)' }]), 2);
    assert.equal(countColourPixels(plain, BLUE, 40), 0);
    assert.ok(countColourPixels(labelled, BLUE, 40) > 200);
  });

  test('radialGauge renders its value arc (Chart.js 2)', async () => {
    const image = await renderPng({ type: 'radialGauge', data: { datasets: [{ data: [70], backgroundColor: 'rgb(0,200,0)' }] } }, 2);
    assert.ok(countColourPixels(image, GREEN, 40) > 5_000);
  });

  for (const [version, type] of [
    [2, 'boxplot'],
    [2, 'violin'],
    [4, 'boxplot'],
    [4, 'violin'],
  ] as const) {
    test(`${type} on Chart.js ${version}`, async () => {
      const image = await renderPng(
        {
          type,
          data: { labels: ['a', 'b'], datasets: [{ label: 'x', backgroundColor: 'rgb(255,0,0)', data: [[1, 2, 3, 4, 5, 9], [2, 3, 4, 8, 10]] }] },
        },
        version,
      );
      assert.ok(countColourPixels(image, RED, 40) > 5_000);
    });
  }
});
