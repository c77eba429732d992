import { parentPort } from 'node:worker_threads';
import { toChartdError } from '../errors.js';
import { getChartJsRuntime } from '../render/chartjs/runtimes.js';
import { registerBundledFonts } from '../render/fonts.js';
import { renderJob } from '../render/render-chart.js';
import type { RenderTaskMessage, WorkerReply, WorkerStats } from './messages.js';
import { runTestHook } from './test-hooks.js';

/**
 * A render worker: one job at a time, the thread's own event loop between jobs
 * (so N-API finalizers run; no Atomics.wait parking, see DESIGN.md "piscina trap").
 */
if (!parentPort) throw new Error('worker-entry must run in a worker thread');
const port = parentPort;
let renders = 0;

function readStats(): WorkerStats {
  const memory = process.memoryUsage();
  return {
    renders,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
  };
}

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function handleRender({ taskId, job }: RenderTaskMessage): Promise<void> {
  try {
    await runTestHook(job);
    const result = await renderJob(job);
    renders++;
    // Copy into a buffer of our own so it can be transferred, not cloned.
    const body = new Uint8Array(result.body);
    reply(
      { type: 'result', taskId, body, contentType: result.contentType, ...result.timings, stats: readStats() },
      [body.buffer as ArrayBuffer],
    );
  } catch (error) {
    renders++;
    reply({ type: 'error', taskId, error: toChartdError(error).toJSON(), stats: readStats() });
  }
}

port.on('message', (message: RenderTaskMessage) => {
  if (message?.type === 'render') void handleRender(message);
});

// Warm up before taking work: fonts and the default Chart.js (QuickChart's 2).
registerBundledFonts();
getChartJsRuntime(2);
reply({ type: 'ready', stats: readStats() });
