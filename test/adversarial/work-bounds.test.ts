import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningService } from '../../src/service.js';
import { decodeImage } from '../helpers/images.js';
import { assertErrorReply, postJson } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';

/**
 * Issue 9: small configs that asked for unbounded work. Each row is the smallest
 * config that crosses a bound (it must be refused with its code, before any
 * drawing: no worker is lost to a deadline) and, where the bound is a count, a
 * twin just under it that must render.
 */

const labels = (n: number) => Array.from({ length: n }, (_, i) => `l${i}`);
const values = (n: number) => Array.from({ length: n }, (_, i) => (i % 9) + 1);
const zigzag = (n: number) => Array.from({ length: n }, (_, i) => (i % 2) * 100);
const line = { type: 'line', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };

interface Row {
  name: string;
  request: Record<string, unknown>;
  code: string;
  /** A request just under the same bound: renders. */
  under?: Record<string, unknown>;
}

const cjk = (n: number) => Array.from({ length: n }, (_, i) => `数据标签${i}`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const v4Axes = (axes: number, count: number) => ({
  version: '4',
  chart: { ...line, options: { scales: Object.fromEntries(range(axes).map((i) => [`y${i}`, { type: 'linear', ticks: { count } }])) } },
});
/** A time axis ticking every second over `seconds`, every tick drawn. */
const v2Seconds = (seconds: number) => ({
  chart: {
    type: 'line',
    data: { datasets: [{ data: [{ x: 0, y: 1 }, { x: seconds * 1000, y: 2 }] }] },
    options: { scales: { xAxes: [{ type: 'time', time: { unit: 'second' }, ticks: { source: 'auto', autoSkip: false } }] } },
  },
});
const v2Bars = (n: number) => ({ chart: { type: 'bar', data: { labels: range(n).map(String), datasets: [{ data: range(n) }] } } });
const outlabeled = (n: number) => ({ chart: { type: 'outlabeledPie', data: { labels: labels(n), datasets: [{ data: values(n) }] }, options: { legend: { display: false } } } });
const sankey = (n: number) => ({ version: '4', chart: { type: 'sankey', data: { datasets: [{ data: range(n).map((i) => ({ from: `a${i % 100}`, to: `b${i % 97}`, flow: 1 })) }] } } });
const svgLabels = (n: number, svgText?: string) => ({
  format: 'svg',
  ...(svgText ? { svgText } : {}),
  width: 3000,
  height: 3000,
  chart: { type: 'bar', data: { labels: cjk(n), datasets: [{ data: range(n) }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } },
});

const v2Step = (stepSize: number) => ({
  chart: { ...line, options: { scales: { yAxes: [{ ticks: { min: 0, max: 1, stepSize } }] } } },
});

const ROWS: Row[] = [
  { name: 'Chart.js 2 stepSize 1e-12 over a unit range (the 190-byte process killer)', request: v2Step(1e-12), code: 'CONFIG_TOO_MANY_TICKS', under: v2Step(1.0002e-4) },
  { name: 'Chart.js 2 stepSize 1e-6 over a unit range', request: v2Step(1e-6), code: 'CONFIG_TOO_MANY_TICKS' },
  {
    name: 'Chart.js 2 stepSize over the data range (no explicit min/max)',
    request: { chart: { type: 'line', data: { labels: ['a', 'b'], datasets: [{ data: [0, 1000] }] }, options: { scales: { yAxes: [{ ticks: { stepSize: 0.01 } }] } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  {
    name: 'Chart.js 4 ticks.count 1e8',
    request: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: 1e8 } } } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
    under: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: 200 } } } } } },
  },
  {
    name: 'Chart.js 3 ticks.count 10,001',
    request: { version: '3', chart: { ...line, options: { scales: { y: { ticks: { count: 10_001 } } } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  {
    name: '2,001 labels drawn with autoSkip: false',
    request: { chart: { type: 'bar', data: { labels: labels(2001), datasets: [{ data: [1] }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } } },
    code: 'CONFIG_TOO_MANY_LABELS',
    under: { chart: { type: 'bar', data: { labels: labels(2000), datasets: [{ data: [1] }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } } },
  },
  {
    name: '50,000 labels, autoSkip: false, Chart.js 4',
    request: { version: '4', chart: { type: 'bar', data: { labels: labels(50_000), datasets: [{ data: [1] }] }, options: { scales: { x: { ticks: { autoSkip: false } } } } } },
    code: 'CONFIG_TOO_MANY_LABELS',
  },
  {
    name: 'a 2,001-slice pie',
    request: { chart: { type: 'pie', data: { labels: labels(2001), datasets: [{ data: values(2001) }] }, options: { legend: { display: false } } } },
    code: 'CONFIG_TOO_MANY_SLICES',
    under: { chart: { type: 'pie', data: { labels: labels(2000), datasets: [{ data: values(2000) }] }, options: { legend: { display: false } } } },
  },
  {
    name: 'a 50,000-slice doughnut on Chart.js 4',
    request: { version: '4', chart: { type: 'doughnut', data: { datasets: [{ data: values(50_000) }] } } },
    code: 'CONFIG_TOO_MANY_SLICES',
  },
  {
    name: 'a pie legend of 2,001 labels',
    request: { chart: { type: 'pie', data: { labels: labels(2001), datasets: [{ data: [1, 2] }] } } },
    code: 'CONFIG_TOO_MANY_LEGEND_ITEMS',
  },
  {
    name: '1,001 annotations (Chart.js 2)',
    request: {
      chart: { ...line, options: { annotation: { annotations: Array.from({ length: 1001 }, () => ({ type: 'line', mode: 'horizontal', scaleID: 'y-axis-0', value: 1 })) } } },
    },
    code: 'CONFIG_TOO_MANY_ANNOTATIONS',
  },
  {
    name: '20,000 annotations as an object (Chart.js 4)',
    request: {
      version: '4',
      chart: { ...line, options: { plugins: { annotation: { annotations: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`a${i}`, { type: 'line', yMin: 1, yMax: 1 }])) } } } },
    },
    code: 'CONFIG_TOO_MANY_ANNOTATIONS',
  },
  {
    name: 'datalabels on 10,001 points (Chart.js 4)',
    request: { version: '4', chart: { type: 'line', data: { labels: labels(10_001), datasets: [{ data: values(10_001) }] }, options: { plugins: { datalabels: { display: true } } } } },
    code: 'CONFIG_TOO_MANY_DATALABELS',
    under: { version: '4', chart: { type: 'line', data: { labels: labels(10_001), datasets: [{ data: values(10_001) }] }, options: { plugins: { datalabels: { display: false } } } } },
  },
  {
    name: 'grid dashes of [0.001, 0.001] (45 s in Skia)',
    request: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ gridLines: { borderDash: [0.001, 0.001] } }] } } } },
    code: 'CONFIG_DASH_TOO_FINE',
    under: { width: 400, height: 300, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ gridLines: { borderDash: [0.125, 0.125] } }] } } } },
  },
  {
    name: 'a dataset dash under half a device pixel',
    request: { devicePixelRatio: 1, chart: { type: 'line', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2], borderDash: [0.2] }] } } },
    code: 'CONFIG_DASH_TOO_FINE',
  },
  {
    name: 'Chart.js 4 border.dash (a v4 name) too fine',
    request: { version: '4', devicePixelRatio: 1, chart: { ...line, options: { scales: { x: { border: { dash: [0.1, 0.1] } } } } } },
    code: 'CONFIG_DASH_TOO_FINE',
  },
  {
    name: 'dashed grid lines on 1,001 ticks at 2000x2000, ratio 2',
    request: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ ticks: { min: 0, max: 1, stepSize: 0.001 }, gridLines: { borderDash: [1, 1] } }] } } } },
    code: 'CONFIG_DASH_TOO_FINE',
  },
  {
    name: 'a 20,000-point zigzag line 100 px wide (116 s in Skia)',
    request: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { type: 'line', data: { labels: labels(20_000), datasets: [{ data: zigzag(20_000), borderWidth: 100, pointRadius: 0 }] } } },
    code: 'CONFIG_TOO_COSTLY',
    under: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { type: 'line', data: { labels: labels(2_000), datasets: [{ data: zigzag(2_000), borderWidth: 2, pointRadius: 0 }] } } },
  },
  {
    name: '20,000 point markers of radius 1,000',
    request: { chart: { type: 'line', data: { labels: labels(20_000), datasets: [{ data: values(20_000), pointRadius: 1000, showLine: false }] } } },
    code: 'CONFIG_TOO_COSTLY',
  },
  {
    name: 'a dashed 20,000-point zigzag at the finest dash allowed',
    request: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { type: 'line', data: { labels: labels(20_000), datasets: [{ data: zigzag(20_000), borderDash: [0.125, 0.125], pointRadius: 0 }] } } },
    code: 'CONFIG_DASH_TOO_FINE',
    under: { chart: { type: 'line', data: { labels: labels(500), datasets: [{ data: values(500), borderDash: [5, 5] }] } } },
  },
  {
    name: 'Chart.js 4 ticks.count as the string "100000000"',
    request: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: '100000000' } } } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
    under: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: '200' } } } } } },
  },
  {
    name: 'Chart.js 3 radar scales.r ticks.count "1e8"',
    request: { version: '3', chart: { type: 'radar', data: { labels: ['a', 'b', 'c'], datasets: [{ data: [0, 1, 2] }] }, options: { scales: { r: { ticks: { count: '1e8' } } } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  {
    name: 'a grid dash of strings ["0.001", "0.001"]',
    request: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ gridLines: { borderDash: ['0.001', '0.001'] } }] } } } },
    code: 'CONFIG_DASH_TOO_FINE',
  },
  {
    name: '2,001 labels with autoSkip: 0 (falsy, not false)',
    request: { chart: { type: 'bar', data: { labels: labels(2001), datasets: [{ data: [1] }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: 0 } }] } } } },
    code: 'CONFIG_TOO_MANY_LABELS',
  },
  { name: 'Chart.js 4: 3 axes of ticks.count 9,000 (27,000 ticks on the chart)', request: v4Axes(3, 9000), code: 'CONFIG_TOO_MANY_TICKS', under: v4Axes(2, 9000) },
  {
    name: 'Chart.js 2: 30 axes of stepSize 0.00011 over a unit range',
    request: { chart: { ...line, options: { scales: { yAxes: range(30).map((i) => ({ id: `y${i}`, ticks: { min: 0, max: 1, stepSize: 0.00011 } })) } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  { name: 'Chart.js 2 time axis, unit second over 99,000 s, autoSkip false', request: v2Seconds(99_000), code: 'CONFIG_TOO_MANY_TICKS', under: v2Seconds(9_000) },
  {
    name: 'Chart.js 4 time axis, unit second over 99,000 s (ISO dates)',
    request: {
      version: '4',
      chart: { type: 'line', data: { datasets: [{ data: [{ x: '2020-01-01T00:00:00Z', y: 1 }, { x: '2020-01-02T03:30:00Z', y: 2 }] }] }, options: { scales: { x: { type: 'time', time: { unit: 'second' } } } } },
    },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  {
    name: 'a time axis stepping by half a millisecond (never ends in Chart.js)',
    request: { chart: { type: 'line', data: { datasets: [{ data: [{ x: 0, y: 1 }, { x: 1000, y: 2 }] }] }, options: { scales: { xAxes: [{ type: 'time', time: { unit: 'millisecond', stepSize: 0.5 } }] } } } },
    code: 'CONFIG_TOO_MANY_TICKS',
  },
  { name: 'a Chart.js 2 bar chart of 50,000 bars on 50,000 labels', request: v2Bars(50_000), code: 'CONFIG_TOO_COSTLY', under: v2Bars(5_000) },
  { name: '301 outlabelled slices', request: outlabeled(301), code: 'CONFIG_TOO_MANY_SLICES', under: outlabeled(300) },
  {
    name: 'a pie of 1,000 slices with options.plugins.outlabels',
    request: { chart: { type: 'pie', data: { labels: labels(1000), datasets: [{ data: values(1000) }] }, options: { legend: { display: false }, plugins: { outlabels: { text: '%l' } } } } },
    code: 'CONFIG_TOO_MANY_SLICES',
  },
  {
    name: 'a radar of 2,001 point labels',
    request: { chart: { type: 'radar', data: { labels: labels(2001), datasets: [{ data: values(2001) }] } } },
    code: 'CONFIG_TOO_MANY_LABELS',
    under: { chart: { type: 'radar', data: { labels: labels(2000), datasets: [{ data: values(2000) }] } } },
  },
  { name: 'a sankey of 2,001 flows', request: sankey(2001), code: 'CONFIG_TOO_COSTLY', under: sankey(2000) },
  {
    name: 'a gauge of 2,001 values',
    request: { chart: { type: 'gauge', data: { datasets: [{ value: 5, data: range(2001).map((i) => i + 1) }] } } },
    code: 'CONFIG_TOO_MANY_SLICES',
  },
  {
    name: '10,001 doughnutlabel lines',
    request: { chart: { type: 'doughnut', data: { datasets: [{ data: [1, 2] }] }, options: { plugins: { doughnutlabel: { labels: range(10_001).map((i) => ({ text: `t${i}` })) } } } } },
    code: 'CONFIG_TOO_MANY_LABELS',
  },
  {
    name: 'a Chart.js 4 title of 10,001 lines',
    request: { version: '4', chart: { ...line, options: { plugins: { title: { display: true, text: range(10_001).map(String) } } } } },
    code: 'CONFIG_TOO_MANY_LABELS',
  },
  { name: 'SVG, svgText=outlines: 401 CJK labels drawn at 3000x3000', request: svgLabels(401, 'outlines'), code: 'CONFIG_TOO_MANY_LABELS' },
  { name: 'SVG as text: 401 CJK labels drawn (outlined anyway)', request: svgLabels(401), code: 'CONFIG_TOO_MANY_LABELS' },
  {
    name: 'SVG as text: a pie legend of 401 CJK labels (outlined anyway)',
    request: { format: 'svg', chart: { type: 'pie', data: { labels: cjk(401), datasets: [{ data: values(401) }] } } },
    code: 'CONFIG_TOO_MANY_LEGEND_ITEMS',
  },
  {
    name: 'SVG, svgText=outlines: 401 data labels',
    request: { format: 'svg', svgText: 'outlines', version: '4', chart: { type: 'line', data: { labels: labels(401), datasets: [{ data: values(401) }] }, options: { plugins: { datalabels: { display: true } } } } },
    code: 'CONFIG_TOO_MANY_DATALABELS',
  },
];

describe('issue 9: work bounds', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 2, timeoutMs: 20_000 });
  });
  after(() => service.close());

  for (const row of ROWS) {
    test(`${row.name} → 400 ${row.code}`, async () => {
      assertErrorReply(await postJson(`${service.url}/chart`, row.request), 400, row.code, row.name);
      if (row.under) {
        const reply = await postJson(`${service.url}/chart`, row.under);
        assert.equal(reply.status, 200, `just under the bound renders: ${reply.body.subarray(0, 300).toString()}`);
        assert.equal((await decodeImage(reply.body)).format, 'png');
      }
    });
  }

  test('no bound cost a worker: every refusal came before drawing', () => {
    const { restarts } = service.pool.stats();
    assert.deepEqual(restarts, { recycled: 0, memory: 0, deadline: 0, crash: 0 });
  });
});

describe('issue 9: output bounds', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 1, maxOutput: 'svg=1,pdf=1' });
  });
  after(() => service.close());

  test('an SVG over --max-output is 413 OUTPUT_TOO_LARGE; the same chart as PNG renders', async () => {
    // Markers become paths: a 3,000-point line is several MB of SVG.
    const chart = { type: 'line', data: { labels: labels(3000), datasets: [{ data: values(3000) }] } };
    assertErrorReply(await postJson(`${service.url}/chart`, { chart, format: 'svg' }), 413, 'OUTPUT_TOO_LARGE');
    const png = await postJson(`${service.url}/chart`, { chart, format: 'png' });
    assert.equal(png.status, 200);
    const small = await postJson(`${service.url}/chart`, { chart: line, format: 'svg' });
    assert.equal(small.status, 200);
    assert.match(small.body.toString('utf8'), /^<\?xml|^<svg/);
  });
});
