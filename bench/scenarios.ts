import type { OutputFormat, RenderRequest } from '../src/index.js';

/** The render-core scenarios (issue 2), shared by `npm run bench` and `npm run bench:http`. */
export interface Scenario {
  name: string;
  request: RenderRequest;
}

const START = Date.UTC(2026, 10, 27);

function series(points: number, phase = 0): number[] {
  return Array.from({ length: points }, (_, i) => Math.round(50 + 30 * Math.sin(i / 12 + phase) + ((i * 7) % 10)));
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'line 400x300, 100 points',
    request: {
      width: 400,
      height: 300,
      devicePixelRatio: 1,
      chart: { type: 'line', data: { labels: series(100).map((_, i) => i), datasets: [{ label: 'p99 ms', data: series(100), fill: false }] } },
    },
  },
  {
    name: 'line 1000x600, 3 x 2,000 points',
    request: {
      width: 1000,
      height: 600,
      devicePixelRatio: 1,
      chart: {
        type: 'line',
        data: {
          labels: series(2000).map((_, i) => i),
          datasets: [0, 1, 2].map((k) => ({ label: `series ${k}`, data: series(2000, k), pointRadius: 0, fill: false })),
        },
      },
    },
  },
  {
    name: 'bar, 50 categories',
    request: {
      width: 800,
      height: 400,
      devicePixelRatio: 1,
      chart: { type: 'bar', data: { labels: series(50).map((_, i) => `cat ${i}`), datasets: [{ label: 'count', data: series(50) }] } },
    },
  },
  {
    name: 'pie, 6 slices',
    request: {
      width: 500,
      height: 300,
      devicePixelRatio: 1,
      chart: { type: 'pie', data: { labels: ['a', 'b', 'c', 'd', 'e', 'f'], datasets: [{ data: [12, 19, 3, 5, 2, 3] }] } },
    },
  },
  {
    name: 'time series, 1,440 minutes',
    request: {
      width: 800,
      height: 300,
      devicePixelRatio: 1,
      version: '4',
      chart: {
        type: 'line',
        data: { datasets: [{ label: 'req/min', data: series(1440).map((y, i) => ({ x: START + i * 60_000, y })), pointRadius: 0, borderWidth: 1 }] },
        options: { scales: { x: { type: 'time', time: { unit: 'hour' } } } },
      },
    },
  },
];

export const BENCH_FORMATS: readonly OutputFormat[] = ['png', 'webp', 'jpeg', 'svg'];
