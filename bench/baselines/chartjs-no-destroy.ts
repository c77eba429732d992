/**
 * Baseline (a): Chart.js 4 on @napi-rs/canvas in a request handler, the way most
 * tutorials show it, without chart.destroy(). Every chart stays in Chart.js'
 * global registry (Chart.instances) with its canvas: heap and native memory grow
 * with every request. Run: node dist/bench/baselines/chartjs-no-destroy.js [--port P]
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
  new Chart(canvas, {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio },
  });
  return canvas.encode(format as 'png');
}

serveCharts('baseline chartjs-no-destroy', renderChart);
