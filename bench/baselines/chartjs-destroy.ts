/**
 * Baseline (b): as chartjs-no-destroy.ts, with the fix every Chart.js server
 * guide ends up recommending: chart.destroy() in finally. The chart leaves
 * Chart.js' registry; its canvas is freed when the N-API finalizer runs.
 * Run: node dist/bench/baselines/chartjs-destroy.js [--port P]
 */
import { createCanvas } from '@napi-rs/canvas';
import { Chart } from 'chart.js/auto';
import 'chartjs-adapter-moment';
import { serveCharts, type ChartParams } from './chart-http.js';

async function renderChart({ config, width, height, devicePixelRatio, format }: ChartParams): Promise<Buffer> {
  const canvas = createCanvas(width, height);
  const chart = new Chart(canvas as any, {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio },
  } as any);
  try {
    return await canvas.encode(format as 'png');
  } finally {
    chart.destroy();
  }
}

serveCharts('baseline chartjs-destroy', renderChart);
