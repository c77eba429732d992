/**
 * Baseline (a): Chart.js 4 on @napi-rs/canvas in a request handler, the way most
 * tutorials show it, without chart.destroy(). Every chart stays in Chart.js'
 * global registry (Chart.instances) with its canvas: heap and native memory grow
 * with every request. Run: node dist/bench/baselines/chartjs-no-destroy.js [--port P]
 */
import { createCanvas } from '@napi-rs/canvas';
import { Chart } from 'chart.js/auto';
import 'chartjs-adapter-moment';
import { serveCharts, type ChartParams } from './chart-http.js';

async function renderChart({ config, width, height, devicePixelRatio, format }: ChartParams): Promise<Buffer> {
  const canvas = createCanvas(width, height);
  new Chart(canvas as any, {
    ...config,
    options: { ...config.options, responsive: false, animation: false, devicePixelRatio },
  } as any);
  return canvas.encode(format as 'png');
}

serveCharts('baseline chartjs-no-destroy', renderChart);
