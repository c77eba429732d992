import { createCanvas, loadImage } from '@napi-rs/canvas';
import { renderChart } from '../../src/index.js';
import type { Sample } from './memory-sampler.js';
import { workerSlots } from './memory-sampler.js';
import { MB } from './stats.js';

const WIDTH = 1200;
const PANEL_HEIGHT = 420;
const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** Points per series: more would not show on 1,200 px, and the config has a point budget (docs/API.md). */
const MAX_POINTS = 1_200;

interface Series {
  label: string;
  points: Array<{ x: number; y: number | null }>;
  axis?: 'y' | 'y1';
}

/** Two panels rendered by chartd's own renderChart, stacked: memory over time, then throughput and p99 over time. */
export async function renderSoakReport(samples: readonly Sample[], title: string[]): Promise<Buffer> {
  const kept = thin(samples);
  const mb = (value: number | undefined) => (value === undefined ? null : value / MB);
  const memory: Series[] = [
    { label: 'RSS, whole process (MB)', points: kept.map((s) => ({ x: s.time, y: mb(s.rssBytes) })) },
    { label: 'main thread heap used (MB)', points: kept.map((s) => ({ x: s.time, y: mb(s.mainHeapBytes) })) },
    ...workerSlots(samples).map((slot) => ({
      label: `worker ${slot} heap used (MB)`,
      points: kept.map((s) => ({ x: s.time, y: mb(s.workerHeapBytes[slot]) })),
    })),
  ];
  const load: Series[] = [
    { label: 'throughput (requests/s)', points: kept.map((s) => ({ x: s.time, y: s.rps })) },
    { label: 'p99 latency of the second (ms)', points: kept.map((s) => ({ x: s.time, y: s.p99Ms ?? null })), axis: 'y1' },
  ];
  const top = await renderLinePanel({ title, series: memory, xType: 'time', yTitle: 'MB' });
  const bottom = await renderLinePanel({ title: ['Throughput and latency'], series: load, xType: 'time', yTitle: 'requests/s', y1Title: 'p99 ms' });
  return stackPanels([top, bottom]);
}

/** RSS of several servers over requests completed, on one chart. */
export async function renderRssOverRequests(curves: Array<{ label: string; samples: readonly Sample[] }>, title: string[]): Promise<Buffer> {
  const series = curves.map(({ label, samples }) => ({
    label,
    points: thin(samples).map((s) => ({ x: s.requests, y: s.rssBytes === undefined ? null : s.rssBytes / MB })),
  }));
  return renderLinePanel({ title, series, xType: 'linear', xTitle: 'requests completed', yTitle: 'RSS (MB)', height: 600 });
}

interface PanelOptions {
  title: string[];
  series: Series[];
  xType: 'time' | 'linear';
  xTitle?: string;
  yTitle: string;
  y1Title?: string;
  height?: number;
}

async function renderLinePanel(options: PanelOptions): Promise<Buffer> {
  const datasets = options.series.map((series, i) => ({
    label: series.label,
    data: series.points,
    borderColor: COLORS[i % COLORS.length],
    backgroundColor: COLORS[i % COLORS.length],
    borderWidth: 1.5,
    pointRadius: 0,
    fill: false,
    spanGaps: true,
    yAxisID: series.axis ?? 'y',
  }));
  const scales: Record<string, unknown> = {
    x: {
      type: options.xType,
      title: { display: Boolean(options.xTitle), text: options.xTitle ?? '' },
      ticks: { maxTicksLimit: 12, maxRotation: 0 },
      ...(options.xType === 'time' ? { time: { displayFormats: { second: 'HH:mm:ss', minute: 'HH:mm', hour: 'HH:mm' } } } : {}),
    },
    y: { beginAtZero: true, title: { display: true, text: options.yTitle } },
  };
  if (options.y1Title) scales.y1 = { position: 'right', beginAtZero: true, title: { display: true, text: options.y1Title }, grid: { drawOnChartArea: false } };
  const { body } = await renderChart({
    version: '4',
    format: 'png',
    width: WIDTH,
    height: options.height ?? PANEL_HEIGHT,
    devicePixelRatio: 1,
    backgroundColor: 'white',
    chart: {
      type: 'line',
      data: { datasets },
      options: { plugins: { title: { display: true, text: options.title }, legend: { position: 'bottom' } }, scales },
    },
  });
  return body;
}

async function stackPanels(panels: Buffer[]): Promise<Buffer> {
  const images = await Promise.all(panels.map((panel) => loadImage(panel)));
  const canvas = createCanvas(WIDTH, images.reduce((sum, image) => sum + image.height, 0));
  const context = canvas.getContext('2d');
  context.fillStyle = 'white';
  context.fillRect(0, 0, canvas.width, canvas.height);
  let y = 0;
  for (const image of images) {
    context.drawImage(image, 0, y);
    y += image.height;
  }
  return canvas.encode('png');
}

function thin<T>(items: readonly T[]): T[] {
  const step = Math.ceil(items.length / MAX_POINTS);
  return step <= 1 ? [...items] : items.filter((_, i) => i % step === 0 || i === items.length - 1);
}
