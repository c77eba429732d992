import { parentPort } from 'node:worker_threads';
import { toChartdError } from '../errors.js';
import { countLiveCharts, getChartJsRuntime } from '../render/chartjs/runtimes.js';
import { registerBundledFonts } from '../render/fonts.js';
import { leakedHandleCounts } from '../render/leak-sentinel.js';
import { renderJob } from '../render/render-chart.js';
import { readPostGcHeapBytes, watchMajorGc } from '../diagnostics/gc-watch.js';
import { captureCpuProfile, captureHeapProfile, startHeapSampling } from '../diagnostics/profilers.js';
import type { DiagnoseMessage, PoolToWorkerMessage, RenderTaskMessage, WorkerReply, WorkerStats } from './messages.js';
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
  const leaked = leakedHandleCounts();
  return {
    renders,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    heapPostGcBytes: readPostGcHeapBytes(),
    liveCharts: countLiveCharts(),
    leakedCharts: leaked.chart,
    leakedCanvases: leaked.canvas,
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

async function handleDiagnose({ requestId, kind, seconds }: DiagnoseMessage): Promise<void> {
  try {
    const profile = kind === 'heap-profile' ? await captureHeapProfile() : await captureCpuProfile(seconds ?? 10);
    const body = new Uint8Array(profile);
    reply({ type: 'diagnosis', requestId, body, stats: readStats() }, [body.buffer as ArrayBuffer]);
  } catch (error) {
    reply({ type: 'diagnosis-error', requestId, error: (error as Error).message, stats: readStats() });
  }
}

port.on('message', (message: PoolToWorkerMessage) => {
  if (message?.type === 'render') void handleRender(message);
  else if (message?.type === 'diagnose') void handleDiagnose(message);
});

// Profiling from birth, so a heap profile shows everything this worker holds.
watchMajorGc();
await startHeapSampling();
// Warm up before taking work: fonts and the default Chart.js (QuickChart's 2).
registerBundledFonts();
getChartJsRuntime(2);
reply({ type: 'ready', stats: readStats() });
