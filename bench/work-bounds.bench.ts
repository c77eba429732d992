/**
 * What the work bounds protect against: each bounded kind of work timed in
 * process at the bound (what chartd still renders) and past it with the bounds
 * lifted (what a worker would spend without them), plus the time a refusal takes.
 * Cases that would run for minutes past their bound are measured at a smaller
 * multiple. Run: npm run bench:work
 */
import { performance } from 'node:perf_hooks';
import { createRenderJob, DEFAULT_LIMITS, renderJob, type RenderLimits, type RenderRequest } from '../src/index.js';
import { describeMachine, printTable } from './machine.js';

const labels = (n: number) => Array.from({ length: n }, (_, i) => `label ${i}`);
const values = (n: number) => Array.from({ length: n }, (_, i) => (i % 97) + 1);
const zigzag = (n: number) => Array.from({ length: n }, (_, i) => (i % 2) * 100);
const line = { type: 'line', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const v4Axes = (axes: number, count: number): RenderRequest => ({
  version: '4',
  chart: { ...line, options: { scales: Object.fromEntries(range(axes).map((i) => [`y${i}`, { type: 'linear', ticks: { count } }])) } },
});
const seconds = (n: number): RenderRequest => ({
  chart: { type: 'line', data: { datasets: [{ data: [{ x: 0, y: 1 }, { x: n * 1000, y: 2 }] }] }, options: { scales: { xAxes: [{ type: 'time', time: { unit: 'second' }, ticks: { source: 'auto', autoSkip: false } }] } } },
});
const v2Bars = (n: number): RenderRequest => ({ chart: { type: 'bar', data: { labels: range(n).map(String), datasets: [{ data: range(n) }] } } });
const outlabeled = (n: number): RenderRequest => ({ chart: { type: 'outlabeledPie', data: { labels: labels(n), datasets: [{ data: values(n) }] }, options: { legend: { display: false } } } });
const radar = (n: number): RenderRequest => ({ chart: { type: 'radar', data: { labels: labels(n), datasets: [{ data: values(n) }] } } });
const sankey = (n: number): RenderRequest => ({ version: '4', chart: { type: 'sankey', data: { datasets: [{ data: range(n).map((i) => ({ from: `a${i % 100}`, to: `b${i % 97}`, flow: (i % 7) + 1 })) }] } } });
const doughnutLabel = (n: number): RenderRequest => ({ chart: { type: 'doughnut', data: { datasets: [{ data: [1, 2] }] }, options: { plugins: { doughnutlabel: { labels: range(n).map((i) => ({ text: `t${i}` })) } } } } });
const outlinedLabels = (n: number): RenderRequest => ({
  format: 'svg',
  svgText: 'outlines',
  width: 3000,
  height: 3000,
  chart: { type: 'bar', data: { labels: range(n).map((i) => `数据标签${i}`), datasets: [{ data: range(n) }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } },
});

const LIFTED: RenderLimits = {
  ...DEFAULT_LIMITS,
  maxTicksPerAxis: Infinity,
  maxTicksPerChart: Infinity,
  maxDrawnLabelsPerAxis: Infinity,
  maxLegacyBarWork: Infinity,
  maxOutlabels: Infinity,
  maxSankeyFlows: Infinity,
  maxTextLines: Infinity,
  maxOutlinedTexts: Infinity,
  maxSlices: Infinity,
  maxLegendItems: Infinity,
  maxAnnotations: Infinity,
  maxDataLabels: Infinity,
  minDashPeriodDevicePx: 0,
  maxDashSegments: Infinity,
  maxStrokedPixels: Infinity,
};

interface Case {
  bound: string;
  at: RenderRequest;
  past: RenderRequest;
  pastLabel: string;
}

const CASES: Case[] = [
  {
    bound: 'ticks per axis (10,000), Chart.js 2 stepSize',
    at: { chart: { ...line, options: { scales: { yAxes: [{ ticks: { min: 0, max: 1, stepSize: 1.0002e-4 } }] } } } },
    past: { chart: { ...line, options: { scales: { yAxes: [{ ticks: { min: 0, max: 1, stepSize: 1e-5 } }] } } } },
    pastLabel: '100,001 ticks',
  },
  {
    bound: 'ticks per axis (10,000), Chart.js 4 ticks.count',
    at: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: 10_000 } } } } } },
    past: { version: '4', chart: { ...line, options: { scales: { y: { ticks: { count: 100_000 } } } } } },
    pastLabel: 'count 100,000',
  },
  {
    bound: 'labels drawn, autoSkip false (2,000)',
    at: { chart: { type: 'bar', data: { labels: labels(2000), datasets: [{ data: [1] }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } } },
    past: { chart: { type: 'bar', data: { labels: labels(50_000), datasets: [{ data: [1] }] }, options: { scales: { xAxes: [{ ticks: { autoSkip: false } }] } } } },
    pastLabel: '50,000 labels',
  },
  {
    bound: 'slices (2,000), Chart.js 2 pie',
    at: { chart: { type: 'pie', data: { labels: labels(2000), datasets: [{ data: values(2000) }] } } },
    past: { chart: { type: 'pie', data: { labels: labels(5000), datasets: [{ data: values(5000) }] } } },
    pastLabel: '5,000 slices (50,000: 148 s)',
  },
  {
    bound: 'annotations (1,000), Chart.js 4',
    at: { version: '4', chart: { ...line, options: { plugins: { annotation: { annotations: Array.from({ length: 1000 }, (_, i) => ({ type: 'line', yMin: 1 + i / 1000, yMax: 1 + i / 1000 })) } } } } },
    past: { version: '4', chart: { ...line, options: { plugins: { annotation: { annotations: Array.from({ length: 10_000 }, (_, i) => ({ type: 'line', yMin: 1 + i / 1e4, yMax: 1 + i / 1e4 })) } } } } },
    pastLabel: '10,000 annotations',
  },
  {
    bound: 'data labels (10,000), Chart.js 4',
    at: { version: '4', chart: { type: 'line', data: { labels: labels(10_000), datasets: [{ data: values(10_000) }] }, options: { plugins: { datalabels: { display: true } } } } },
    past: { version: '4', chart: { type: 'line', data: { labels: labels(40_000), datasets: [{ data: values(40_000) }] }, options: { plugins: { datalabels: { display: true } } } } },
    pastLabel: '40,000 labels',
  },
  {
    bound: 'dash period (0.5 device px), grid at 2000x2000 ratio 2',
    at: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ gridLines: { borderDash: [1, 1] } }] } } } },
    past: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { ...line, options: { scales: { yAxes: [{ gridLines: { borderDash: [0.01, 0.01] } }] } } } },
    pastLabel: 'period 0.04 device px',
  },
  {
    bound: 'stroked pixels (300 million)',
    at: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { type: 'line', data: { labels: labels(2000), datasets: [{ data: zigzag(2000), borderWidth: 8, pointRadius: 0 }] } } },
    past: { width: 2000, height: 2000, devicePixelRatio: 2, chart: { type: 'line', data: { labels: labels(4000), datasets: [{ data: zigzag(4000), borderWidth: 40, pointRadius: 0 }] } } },
    pastLabel: '4,000-point zigzag, 40 px wide',
  },
  { bound: 'ticks per chart (20,000), Chart.js 4 ticks.count', at: v4Axes(2, 10_000), past: v4Axes(30, 2000), pastLabel: '30 axes of count 2,000' },
  { bound: 'time ticks per axis (10,000), Chart.js 2 unit second', at: seconds(9_990), past: seconds(99_000), pastLabel: '99,000 s' },
  { bound: 'Chart.js 2 bar layout (2.5e8)', at: v2Bars(7_900), past: v2Bars(20_000), pastLabel: '20,000 bars (50,000: 33 s)' },
  { bound: 'outlabelled slices (300)', at: outlabeled(300), past: outlabeled(600), pastLabel: '600 slices (1,000: 23 s)' },
  { bound: 'radar point labels (2,000)', at: radar(2000), past: radar(40_000), pastLabel: '40,000 labels' },
  { bound: 'sankey flows (2,000), Chart.js 4', at: sankey(2000), past: sankey(10_000), pastLabel: '10,000 flows (30,000: 13.6 s)' },
  {
    bound: 'gauge values (2,000 slices)',
    at: { chart: { type: 'gauge', data: { datasets: [{ value: 5, data: range(2000).map((i) => i + 1) }] } } },
    past: { chart: { type: 'gauge', data: { datasets: [{ value: 5, data: range(99_000).map((i) => i + 1) }] } } },
    pastLabel: '99,000 values',
  },
  { bound: 'lines of text (10,000), doughnutlabel', at: doughnutLabel(10_000), past: doughnutLabel(50_000), pastLabel: '50,000 lines' },
  { bound: 'outlined SVG texts (400), CJK labels 3000x3000', at: outlinedLabels(400), past: outlinedLabels(1000), pastLabel: '1,000 labels (2,000: 18.6 s)' },
];

async function time(request: RenderRequest, limits: RenderLimits): Promise<{ ms: number; outcome: string }> {
  const started = performance.now();
  try {
    const result = await renderJob(createRenderJob(request, limits), { limits });
    return { ms: performance.now() - started, outcome: `${result.body.length} B` };
  } catch (error) {
    return { ms: performance.now() - started, outcome: (error as { code?: string }).code ?? String(error) };
  }
}

console.log(`chartd work bounds: ${describeMachine()}; one render each, in process\n`);
await time(CASES[0]!.at, DEFAULT_LIMITS); // load Chart.js before timing
const rows: Array<Array<string | number>> = [];
for (const entry of CASES) {
  const at = await time(entry.at, DEFAULT_LIMITS);
  const refused = await time(entry.past, DEFAULT_LIMITS);
  const past = await time(entry.past, LIFTED);
  rows.push([entry.bound, at.ms.toFixed(0), at.outcome, entry.pastLabel, refused.ms.toFixed(1), refused.outcome, past.ms.toFixed(0)]);
}
printTable(['bound', 'at the bound ms', 'outcome', 'past it', 'refused in ms', 'code', 'past it, unbounded ms'], rows);
