// Leak class 1: a Chart.js chart that is never destroyed.
//
// Chart.js keeps every chart in a process-wide registry, Chart.instances, until
// chart.destroy() is called. A server that renders a chart per request and
// forgets destroy() keeps every chart, with its canvas (native pixel memory,
// width × height × 4 bytes) and its datasets, forever.
//
//   node examples/leaks/forgotten-destroy.mjs
//
// Fix: destroy in `finally`, on the error path too (chartd: ChartHandle +
// `using`, src/render/render-chart.ts).
import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { runExample, turnEventLoop } from './measure.mjs';

const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');

const ITERATIONS = 600;
const config = () => ({
  type: 'line',
  data: { labels: Array.from({ length: 100 }, (_, i) => i), datasets: [{ label: 'p99 ms', data: Array.from({ length: 100 }, (_, i) => 50 + 30 * Math.sin(i / 12)) }] },
  options: { animation: false, responsive: false },
});

async function render(destroy) {
  const canvas = createCanvas(400, 300);
  const chart = new Chart(canvas, config());
  try {
    return await canvas.encode('png');
  } finally {
    if (destroy) chart.destroy();
  }
}

const loop = (destroy) => async (sample) => {
  for (let i = 0; i <= ITERATIONS; i++) {
    if (i % 100 === 0) sample(i, `Chart.instances: ${Object.keys(Chart.instances).length}`);
    await render(destroy);
    await turnEventLoop();
  }
};

await runExample(
  import.meta.url,
  {
    'no-destroy': { describe: 'new Chart per render, never destroyed', run: loop(false) },
    destroy: { describe: 'chart.destroy() in finally', run: loop(true) },
  },
  { iterations: ITERATIONS },
);
