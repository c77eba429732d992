/**
 * In-process render throughput (issue 2): one thread, the library's render path
 * (parse, validate, draw, encode, yield). Knobs: BENCH_SECONDS (per cell, default 2).
 * Run: npm run bench
 */
import { performance } from 'node:perf_hooks';
import { createCanvas } from '@napi-rs/canvas';
import { createRenderJob, renderJob } from '../src/index.js';
import { prepareChartConfig } from '../src/render/chartjs/prepare-config.js';
import { getChartJsRuntime } from '../src/render/chartjs/runtimes.js';
import { encodePng, encodePngWithLibvips, encodePngWithSkia, encodeRaster, encodeWebpWithSkia } from '../src/render/encode.js';
import { registerBundledFonts } from '../src/render/fonts.js';
import { BENCH_FORMATS, SCENARIOS } from './scenarios.js';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

async function measureRenders(): Promise<Map<string, number>> {
  const rows: Array<Array<string | number>> = [];
  const rendersPerSecond = new Map<string, number>();
  for (const scenario of SCENARIOS) {
    for (const format of BENCH_FORMATS) {
      const request = { ...scenario.request, format };
      for (let i = 0; i < 5; i++) await renderJob(createRenderJob(request));
      const times: number[] = [];
      const draws: number[] = [];
      const encodes: number[] = [];
      let bytes = 0;
      const until = performance.now() + SECONDS * 1000;
      while (performance.now() < until || times.length < 10) {
        const start = performance.now();
        const result = await renderJob(createRenderJob(request));
        times.push(performance.now() - start);
        // Draw: parse-to-drawn (Chart.js layout and Skia); encode: the image bytes (for SVG and PDF, writing the document).
        draws.push(result.timings.drawMs);
        encodes.push(result.timings.encodeMs);
        bytes = result.body.length;
      }
      const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
      rendersPerSecond.set(`${scenario.name}|${format}`, 1000 / mean);
      rows.push([
        scenario.name,
        format,
        (1000 / mean).toFixed(1),
        mean.toFixed(2),
        percentileOf(times, 50).toFixed(2),
        percentileOf(times, 99).toFixed(2),
        percentileOf(draws, 50).toFixed(2),
        percentileOf(encodes, 50).toFixed(2),
        bytes,
      ]);
    }
  }
  printTable(['scenario', 'format', 'renders/s', 'ms/render', 'p50 ms', 'p99 ms', 'draw p50 ms', 'encode p50 ms', 'bytes'], rows);
  return rendersPerSecond;
}

/** PNG and WebP encoders on the same drawn canvas: QuickChart's default output, a 100-point line at 500x300 @2. */
async function compareEncoders(): Promise<void> {
  registerBundledFonts();
  const job = createRenderJob({ ...SCENARIOS[0]!.request, width: 500, height: 300, devicePixelRatio: 2, version: '4' });
  const runtime = getChartJsRuntime(job.version);
  const canvas = createCanvas(job.width, job.height);
  const chart = runtime.createChart(canvas, prepareChartConfig(job, runtime));
  try {
    const rows: Array<Array<string | number>> = [];
    const encoders = {
      'Skia encode("png") (baseline)': encodePngWithSkia,
      'getImageData + libvips level 2, no filter (chartd before)': encodePngWithLibvips,
      "getImageData + Node's zlib level 1, no filter (chartd png)": encodePng,
      'Skia encode("webp", 90)': encodeWebpWithSkia,
      'getImageData + libvips webp q90 effort 0 (chartd webp)': (c: typeof canvas) => encodeRaster(c, 'webp'),
    };
    const results: Record<string, { ms: number; bytes: number }> = {};
    for (const [name, encode] of Object.entries(encoders)) {
      for (let i = 0; i < 5; i++) await encode(canvas);
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 60; i++) {
        const start = performance.now();
        bytes = (await encode(canvas)).length;
        times.push(performance.now() - start);
      }
      results[name] = { ms: percentileOf(times, 50), bytes };
    }
    const baseline = results['Skia encode("png") (baseline)']!;
    for (const [name, { ms, bytes }] of Object.entries(results)) {
      rows.push([name, ms.toFixed(2), bytes, (baseline.ms / ms).toFixed(1) + 'x', (bytes / baseline.bytes).toFixed(2) + 'x']);
    }
    console.log(`\nEncoders, ${canvas.width}x${canvas.height} pixels (median of 60)`);
    printTable(['encoder', 'median ms', 'bytes', 'speed vs Skia', 'size vs Skia'], rows);
  } finally {
    chart.destroy();
  }
}

console.log(`chartd render benchmark: ${describeMachine()}, ${SECONDS} s per cell, one thread\n`);
await measureRenders();
await compareEncoders();
