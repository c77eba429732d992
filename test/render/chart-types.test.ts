import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { countLiveCharts, renderChart, type ChartJsMajor } from '../../src/index.js';
import { CHART_TYPES, sampleConfig, timeSeriesConfig } from '../helpers/charts.js';
import { countColourPixels, countDrawnPixels, decodeImage, differingFraction, type DecodedImage } from '../helpers/images.js';

type Rgb = [number, number, number];

const VERSIONS: ChartJsMajor[] = [2, 3, 4];
/** sampleConfig's first dataset: rgb(220, 20, 60) border, 0.8 alpha fill. */
const CRIMSON: Rgb = [220, 20, 60];
const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const PIXELS = 1000 * 600;

async function renderPng(chart: Record<string, unknown>, version: ChartJsMajor): Promise<DecodedImage> {
  const { body, contentType } = await renderChart({ chart, version });
  assert.equal(contentType, 'image/png');
  assert.equal(countLiveCharts(), 0, 'every render destroys its chart');
  const image = await decodeImage(body);
  assert.equal(image.format, 'png');
  assert.deepEqual([image.width, image.height], [1000, 600]);
  return image;
}

/** Legends repeat dataset colours at the top of the image; position checks need them gone. */
function withoutLegend(config: Record<string, unknown>, version: ChartJsMajor): Record<string, unknown> {
  const options = (config.options ?? {}) as Record<string, unknown>;
  if (version === 2) options.legend = { display: false };
  else options.plugins = { ...(options.plugins as object | undefined), legend: { display: false } };
  return { ...config, options };
}

interface Extent {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  /** Longest run of the colour along any row, and along any column. */
  longestRowRun: number;
  longestColumnRun: number;
}

/** Where a colour lies in the image (same tolerance as countColourPixels). */
function colourExtent(image: DecodedImage, rgb: Rgb, tolerance = 40): Extent {
  const { width, height, pixels } = image;
  const matches = (x: number, y: number): boolean => {
    const i = (y * width + x) * 4;
    return (
      pixels[i + 3]! > 128 &&
      Math.abs(pixels[i]! - rgb[0]) <= tolerance &&
      Math.abs(pixels[i + 1]! - rgb[1]) <= tolerance &&
      Math.abs(pixels[i + 2]! - rgb[2]) <= tolerance
    );
  };
  const extent: Extent = { minX: width, maxX: -1, minY: height, maxY: -1, longestRowRun: 0, longestColumnRun: 0 };
  const columnRuns = new Array<number>(width).fill(0);
  for (let y = 0; y < height; y++) {
    let rowRun = 0;
    for (let x = 0; x < width; x++) {
      if (matches(x, y)) {
        extent.minX = Math.min(extent.minX, x);
        extent.maxX = Math.max(extent.maxX, x);
        extent.minY = Math.min(extent.minY, y);
        extent.maxY = Math.max(extent.maxY, y);
        rowRun++;
        columnRuns[x]!++;
        extent.longestRowRun = Math.max(extent.longestRowRun, rowRun);
        extent.longestColumnRun = Math.max(extent.longestColumnRun, columnRuns[x]!);
      } else {
        rowRun = 0;
        columnRuns[x] = 0;
      }
    }
  }
  return extent;
}

/** Minimum share of drawn pixels per type: the sparsest (scatter) draws ~6 %. */
const MIN_DRAWN: Record<(typeof CHART_TYPES)[number], number> = {
  line: 0.05,
  bar: 0.2,
  pie: 0.25,
  doughnut: 0.2,
  radar: 0.06,
  polarArea: 0.15,
  scatter: 0.03,
  bubble: 0.04,
};

for (const version of VERSIONS) {
  describe(`Chart.js ${version}`, () => {
    let bar: DecodedImage | undefined;
    const barImage = async (): Promise<DecodedImage> => (bar ??= await renderPng(sampleConfig('bar'), version));

    for (const type of CHART_TYPES) {
      test(`${type} draws its datasets in their colours`, async () => {
        const image = await renderPng(sampleConfig(type), version);
        const drawn = countDrawnPixels(image) / PIXELS;
        assert.ok(drawn > MIN_DRAWN[type], `drawn fraction ${drawn} > ${MIN_DRAWN[type]}`);
        assert.ok(drawn < 0.9, `drawn fraction ${drawn}: the transparent background stays transparent`);
        const crimson = countColourPixels(image, CRIMSON);
        assert.ok(crimson > 1_000, `crimson pixels of the first dataset: ${crimson}`);
        if (type !== 'bar') {
          // The type is honoured: the same data drawn as bars looks different.
          const difference = differingFraction(image, await barImage());
          assert.ok(difference > 0.03, `differs from the bar chart by ${difference}`);
        }
      });
    }

    test('mixed chart: a bar chart with a line dataset draws both', async () => {
      const image = await renderPng(
        withoutLegend({
          type: 'bar',
          data: {
            labels: ['a', 'b', 'c', 'd'],
            datasets: [
              { label: 'bars', data: [3, 5, 2, 4], backgroundColor: 'rgb(255,0,0)' },
              { label: 'line', type: 'line', data: [8, 9, 7, 10], borderColor: 'rgb(0,0,255)', backgroundColor: 'rgb(0,0,255)', fill: false },
            ],
          },
        }, version),
        version,
      );
      assert.ok(countColourPixels(image, RED) > 0.1 * PIXELS, 'red bars');
      const line = colourExtent(image, BLUE);
      assert.ok(countColourPixels(image, BLUE) > 2_000, 'blue line');
      // The line spans the categories from the first to the last bar, above the bars.
      assert.ok(line.maxX - line.minX > 500, `line width ${line.maxX - line.minX}`);
      const bars = colourExtent(image, RED);
      assert.ok(line.maxY < bars.minY, `line (values 7-10, rows ${line.minY}..${line.maxY}) lies above the bar tops (2-5, from row ${bars.minY})`);
    });

    test('time axis with 1,440 per-minute points draws the blue line across the plot', async () => {
      const image = await renderPng(withoutLegend(timeSeriesConfig(1_440, version), version), version);
      const blue = countColourPixels(image, BLUE);
      assert.ok(blue > 5_000, `blue pixels ${blue}`);
      const extent = colourExtent(image, BLUE);
      // One day of minutes fills the time axis: a line collapsed onto one tick would be narrow.
      assert.ok(extent.maxX - extent.minX > 0.75 * image.width, `line spans ${extent.minX}..${extent.maxX}`);
      // 50 ± 40 * sin: the line swings over a good part of the plot height.
      assert.ok(extent.maxY - extent.minY > 0.4 * image.height, `line spans rows ${extent.minY}..${extent.maxY}`);
    });
  });
}

describe('horizontalBar', () => {
  const horizontal = (): Record<string, unknown> => ({
    type: 'horizontalBar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'red', data: [10, 5, 2], backgroundColor: 'rgb(255,0,0)' }] },
  });

  function assertBarsAreHorizontal(image: DecodedImage): void {
    const red = colourExtent(image, RED);
    assert.ok(countColourPixels(image, RED) > 0.1 * PIXELS, 'red bars drawn');
    // The longest bar runs most of the plot width and is far longer than it is thick.
    assert.ok(red.longestRowRun > 0.7 * image.width, `longest row run ${red.longestRowRun}`);
    assert.ok(red.longestRowRun > 2 * red.longestColumnRun, `row run ${red.longestRowRun} vs column run ${red.longestColumnRun}`);
  }

  test('vertical bars fail the horizontal check (the check can tell them apart)', async () => {
    const config = horizontal();
    config.type = 'bar';
    const red = colourExtent(await renderPng(config, 2), RED);
    assert.ok(red.longestColumnRun > red.longestRowRun, `column run ${red.longestColumnRun} vs row run ${red.longestRowRun}`);
  });

  test('Chart.js 2 draws horizontalBar natively', async () => {
    assertBarsAreHorizontal(await renderPng(horizontal(), 2));
  });

  test('is detected as Chart.js 2 when no version is given', async () => {
    const detected = await decodeImage((await renderChart({ chart: horizontal() })).body);
    assert.equal(differingFraction(detected, await renderPng(horizontal(), 2)), 0);
  });

  test('Chart.js 4 maps horizontalBar to a bar chart with indexAxis "y"', async () => {
    const mapped = await renderPng(horizontal(), 4);
    assertBarsAreHorizontal(mapped);
    const explicit = horizontal();
    explicit.type = 'bar';
    explicit.options = { indexAxis: 'y' };
    assert.equal(differingFraction(mapped, await renderPng(explicit, 4)), 0);
  });

  test('Chart.js 4 keeps an explicit indexAxis', async () => {
    const config = horizontal();
    config.options = { indexAxis: 'x' };
    const red = colourExtent(await renderPng(config, 4), RED);
    assert.ok(red.longestColumnRun > red.longestRowRun, 'vertical bars');
  });
});

test('no Chart.js instance outlives the renders above', () => {
  assert.equal(countLiveCharts(), 0);
});
