/**
 * Baseline (b): as chartjs-no-destroy.ts, with the fix every Chart.js server
 * guide ends up recommending: chart.destroy() in finally. The chart leaves
 * Chart.js' registry; its canvas is freed when the N-API finalizer runs.
 * Run: node dist/bench/baselines/chartjs-destroy.js [--port P]
 */
import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { serveCharts, type ChartParams } from './chart-http.js';

// CommonJS on purpose: chartjs-adapter-moment is CommonJS and require()s chart.js;
// an ESM import of chart.js would be a second copy that never gets the adapter.
const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');
require('chartjs-adapter-moment');

async function renderChart({ config, width, height, devicePixelRatio, format }: ChartParams): Promise<Buffer> {
  const canvas = createCanvas(width, height);
  const chart = new Chart(canvas, {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio },
  });
  try {
    return await canvas.encode(format as 'png');
  } finally {
    chart.destroy();
  }
}

serveCharts('baseline chartjs-destroy', renderChart);
