// Leak class 4: timers and listeners that are never removed.
//
// A per-request setInterval (a heartbeat, a progress report) that is cleared only
// on the happy path, or not at all, and a listener added per request to a
// long-lived emitter (process, a config bus, a shared AbortSignal) keep their
// closures alive, and with them whatever the request held: here the rendered
// image. Each also costs a little CPU forever. Node warns once
// (MaxListenersExceededWarning) and then stays silent.
//
//   node examples/leaks/timers-listeners.mjs
//
// Fix: clear timers and remove listeners in `finally`, `.unref()` background
// timers, pass `{ once: true }` or an AbortSignal (chartd's pool removes its
// abort listener and clears its deadline timer when a task settles).
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { runExample, turnEventLoop } from './measure.mjs';

const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');

const ITERATIONS = 600;
const bus = new EventEmitter(); // long-lived: lives as long as the process
const stats = { lastHeartbeat: 0, flushed: 0 };
const data = Array.from({ length: 100 }, (_, i) => 50 + 30 * Math.sin(i / 12));

async function handleRequest(cleanUp) {
  const heartbeat = setInterval(() => (stats.lastHeartbeat = Date.now()), 1_000);
  let image;
  const onShutdown = () => (stats.flushed += image?.length ?? 0);
  bus.on('shutdown', onShutdown);
  const canvas = createCanvas(400, 300);
  const chart = new Chart(canvas, {
    type: 'line',
    data: { labels: data.map((_, i) => i), datasets: [{ label: 'p99 ms', data }] },
    options: { animation: false, responsive: false },
  });
  try {
    image = await canvas.encode('png');
    return image.length;
  } finally {
    chart.destroy();
    if (cleanUp) {
      clearInterval(heartbeat);
      bus.off('shutdown', onShutdown);
    }
  }
}

const loop = (cleanUp) => async (sample) => {
  const count = () => {
    const timers = process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
    return `timers: ${timers}, listeners: ${bus.listenerCount('shutdown')}`;
  };
  for (let i = 0; i <= ITERATIONS; i++) {
    if (i % 100 === 0) sample(i, count());
    await handleRequest(cleanUp);
    await turnEventLoop();
  }
  process.exit(0); // the leaked intervals would keep the process alive
};

await runExample(
  import.meta.url,
  {
    leaky: { describe: 'setInterval + bus.on per request, never removed', run: loop(false) },
    'clean-up': { describe: 'clearInterval + bus.off in finally', run: loop(true) },
  },
  { iterations: ITERATIONS },
);
