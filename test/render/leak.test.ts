import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChartdError, countLiveCharts, renderChart, type OutputFormat } from '../../src/index.js';
import { CHART_TYPES, sampleConfig } from '../helpers/charts.js';
import { sampleMemory, slope, type MemorySample } from '../helpers/memory.js';

const RENDERS = 3_000;
const SAMPLE_EVERY = 150;
const FORMATS: OutputFormat[] = ['png', 'jpeg', 'webp', 'svg', 'pdf', 'base64'];
const SIZES = [
  [400, 300, 1],
  [500, 300, 2],
  [800, 600, 1],
  [300, 200, 2],
] as const;

/** Configs that fail at each stage: parsing, validation, and inside Chart.js after the chart registered itself. */
const FAILING: ReadonlyArray<{ chart: unknown; version: string }> = [
  { chart: '{type: "bar", data: {datasets: [{data: [1, 2}]}', version: '4' },
  { chart: { type: 'nope', data: { datasets: [] } }, version: '3' },
  { chart: { type: 'bar', data: { datasets: [{ data: [1, Infinity] }] } }, version: '2' },
  { chart: { type: 'line', data: { datasets: [{ data: [1, 2] }] }, options: { scales: { x: { type: 'no-such-scale' } } } }, version: '4' },
  { chart: { type: 'line', data: { datasets: [{ data: [1, 2] }] }, options: { scales: { xAxes: [{ type: 'no-such-scale' }] } } }, version: '2' },
];

test(`${RENDERS} mixed renders, failures included, leave no chart alive and memory flat`, { timeout: 600_000 }, async (t) => {
  const samples: MemorySample[] = [];
  let failures = 0;
  for (let i = 0; i < RENDERS; i++) {
    if (i % SAMPLE_EVERY === 0) samples.push(await sampleMemory(i));
    if (i % 10 === 9) {
      const failing = FAILING[Math.floor(i / 10) % FAILING.length]!;
      await assert.rejects(renderChart(failing), (error: unknown) => {
        assert.ok(error instanceof ChartdError);
        return true;
      });
      failures++;
      continue;
    }
    const type = CHART_TYPES[i % CHART_TYPES.length]!;
    const [width, height, devicePixelRatio] = SIZES[i % SIZES.length]!;
    const result = await renderChart({
      chart: sampleConfig(type, 10 + (i % 50)),
      version: String(2 + (i % 3)),
      format: FORMATS[i % FORMATS.length],
      width,
      height,
      devicePixelRatio,
    });
    assert.ok(result.body.length > 100);
    assert.equal(countLiveCharts(), 0, `chart left alive after render ${i}`);
  }
  samples.push(await sampleMemory(RENDERS));

  assert.equal(countLiveCharts(), 0);
  assert.equal(failures, RENDERS / 10);
  const secondHalf = samples.filter((sample) => sample.iteration >= RENDERS / 2);
  const heapSlope = slope(secondHalf.map((s) => [s.iteration, s.heapUsedBytes]));
  const rssSlope = slope(secondHalf.map((s) => [s.iteration, s.rssBytes]));
  const first = secondHalf[0]!;
  const last = secondHalf.at(-1)!;
  const report = samples.map((s) => `${s.iteration}: heap ${mb(s.heapUsedBytes)} MB, rss ${mb(s.rssBytes)} MB`).join('\n');
  t.diagnostic(`second half: heap ${Math.round(heapSlope)} B/render, RSS ${Math.round(rssSlope)} B/render`);
  // A forgotten destroy() costs ~200 KB of heap per render (measured, docs/LEAKS.md); native
  // surfaces not freed cost ~600 KB of RSS per render. Allow a small fraction of that.
  assert.ok(heapSlope < 2_048, `heap grows ${Math.round(heapSlope)} B/render over the second half\n${report}`);
  assert.ok(rssSlope < 16_384, `RSS grows ${Math.round(rssSlope)} B/render over the second half\n${report}`);
  assert.ok(last.heapUsedBytes - first.heapUsedBytes < 8 * 1024 * 1024, `heap grew ${mb(last.heapUsedBytes - first.heapUsedBytes)} MB\n${report}`);
});

function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

test('positive control: the same measurement sees a forgotten destroy()', async () => {
  const { getChartJsRuntime } = await import('../../src/render/chartjs/runtimes.js');
  const { createCanvas } = await import('@napi-rs/canvas');
  const runtime = getChartJsRuntime(4);
  const leaked: Array<{ destroy(): void }> = [];
  const samples: Array<[number, number]> = [];
  try {
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) samples.push([i, (await sampleMemory(i)).heapUsedBytes]);
      const config = sampleConfig('line', 200);
      config.options = { responsive: false, animation: false };
      leaked.push(runtime.createChart(createCanvas(400, 300), config));
      await new Promise((resolve) => setImmediate(resolve));
    }
    samples.push([300, (await sampleMemory(300)).heapUsedBytes]);
    assert.ok(countLiveCharts() >= 300);
    assert.ok(slope(samples) > 2_048, `a real leak measured only ${Math.round(slope(samples))} B/render`);
  } finally {
    for (const chart of leaked) chart.destroy();
  }
  assert.equal(countLiveCharts(), 0);
});
