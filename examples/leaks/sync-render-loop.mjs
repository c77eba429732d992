// Leak class 2: native memory that only finalizers free, and a loop that never
// lets them run.
//
// @napi-rs/canvas frees a canvas's pixels in an N-API finalizer. Node 20 runs
// those from the event loop's check phase (setImmediate), after GC. A batch job
// or a worker that renders in a loop without yielding to the event loop (or
// yielding only to microtasks, `await Promise.resolve()`) never reaches that
// phase: RSS grows with every render although every chart is destroyed and the
// JS heap is flat. V8 cannot see this memory (the canvas does not report it as
// external memory), so heap metrics stay flat too: only RSS shows it.
//
//   node examples/leaks/sync-render-loop.mjs
//
// Fix: let the event loop turn between renders: `await new Promise((r) =>
// setImmediate(r))` (chartd: yieldToEventLoop() at the end of every render).
import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { runExample, turnEventLoop } from './measure.mjs';

const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');

const ITERATIONS = 500;
const data = Array.from({ length: 100 }, (_, i) => 50 + 30 * Math.sin(i / 12));

function renderSync() {
  const canvas = createCanvas(800, 400);
  const chart = new Chart(canvas, {
    type: 'line',
    data: { labels: data.map((_, i) => i), datasets: [{ label: 'p99 ms', data }] },
    options: { animation: false, responsive: false },
  });
  try {
    return canvas.toBuffer('image/png');
  } finally {
    chart.destroy();
  }
}

const loop = (yieldBetween) => async (sample) => {
  for (let i = 0; i <= ITERATIONS; i++) {
    // The sampler's gc() runs synchronously: it collects the canvases' JS
    // wrappers, but their finalizers still wait for the check phase.
    if (i % 100 === 0) sample(i);
    renderSync();
    await yieldBetween?.();
  }
};

await runExample(
  import.meta.url,
  {
    sync: { describe: 'for loop, no await: destroy() called, pixels kept', run: loop(undefined) },
    microtask: { describe: 'await Promise.resolve() between renders', run: loop(() => Promise.resolve()) },
    setImmediate: { describe: 'await setImmediate between renders', run: loop(turnEventLoop) },
  },
  { iterations: ITERATIONS },
);
