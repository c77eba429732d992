// Leak class 2, pool edition: piscina's default `atomics: 'sync'`.
//
// Between tasks, piscina parks an idle worker in Atomics.wait by default, so the
// worker's event loop never reaches its check phase, where Node 20 runs the N-API
// finalizers that free @napi-rs/canvas pixels. Every task destroys its chart, the
// heap is flat, and RSS grows by about one canvas per task.
//
//   node examples/leaks/piscina-atomics.mjs
//
// Fix: `new Piscina({ atomics: 'disabled' })`, or end each task with
// `await new Promise((r) => setImmediate(r))`. chartd's render workers are
// processes that wait in their event loop, and every render ends with a
// setImmediate yield (docs/ARCHITECTURE.md, "Let native memory go").
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { createCanvas } from '@napi-rs/canvas';
import { Piscina } from 'piscina';
import { runExample, turnEventLoop } from './measure.mjs';

const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');

const ITERATIONS = 600;
const data = Array.from({ length: 100 }, (_, i) => 50 + 30 * Math.sin(i / 12));

/** The task, run in piscina's workers: a new canvas per render, chart destroyed, PNG encoded synchronously. */
export default async function renderTask({ yieldAtEnd }) {
  const canvas = createCanvas(800, 400);
  const chart = new Chart(canvas, {
    type: 'line',
    data: { labels: data.map((_, i) => i), datasets: [{ label: 'p99 ms', data }] },
    options: { animation: false, responsive: false },
  });
  let bytes;
  try {
    bytes = canvas.toBuffer('image/png').length;
  } finally {
    chart.destroy();
  }
  if (yieldAtEnd) await turnEventLoop();
  return bytes;
}

const runPool = (poolOptions, task) => async (sample) => {
  const pool = new Piscina({ filename: import.meta.url, minThreads: 2, maxThreads: 2, ...poolOptions });
  for (let i = 0; i <= ITERATIONS; i += 100) {
    sample(i, `${pool.threads.length} workers`);
    if (i < ITERATIONS) await Promise.all(Array.from({ length: 100 }, () => pool.run(task)));
  }
  await pool.destroy();
};

if (isMainThread) {
  await runExample(
    import.meta.url,
    {
      'atomics-sync': { describe: "piscina's default: idle workers wait in Atomics.wait", run: runPool({}, { yieldAtEnd: false }) },
      'atomics-disabled': { describe: "atomics: 'disabled': idle workers wait in their event loop", run: runPool({ atomics: 'disabled' }, { yieldAtEnd: false }) },
      'sync-with-yield': { describe: "default atomics, each task ends with a setImmediate yield", run: runPool({}, { yieldAtEnd: true }) },
    },
    { iterations: ITERATIONS },
  );
}
