// First: the census counts @napi-rs/canvas objects only if it is installed before the library loads
// (the pool also preloads it with --require, ahead of any --import).
import { nativeCounts } from '../render/native-census.cjs';
import { writeHeapSnapshot } from 'node:v8';
import { ChartdError, toChartdError } from '../errors.js';
import { readGcTotals, readPostGcHeapBytes, watchGc } from '../diagnostics/gc-watch.js';
import { captureCpuProfile, captureHeapProfile, markHeapProfile, startHeapSampling } from '../diagnostics/profilers.js';
import { settleMemory, type SettledMemory } from '../diagnostics/settled-memory.js';
import { WARM_UP, type WarmUp } from '../diagnostics/warm-up.js';
import { answerChartRequest } from '../render/answer-chart-request.js';
import { countLiveCharts, getChartJsRuntime } from '../render/chartjs/runtimes.js';
import { registerBundledFonts } from '../render/fonts.js';
import { DEFAULT_LIMITS, type RenderLimits } from '../render/limits.js';
import { liveScriptSessions, loadScriptEngine } from '../render/script/script-session.js';
import { createRenderJob, renderJob } from '../render/render-chart.js';
import { leakedHandleCounts } from '../render/leak-sentinel.js';
import { resolveQrJob } from '../render/qr/qr-job.js';
import { renderQr } from '../render/qr/render-qr.js';
import { CHARTD_VERSION } from '../version.js';
import { RENDER_LIMITS_ENV, SETTLE_EVERY_ENV, WARM_UP_ENV, toWireAnswer, type HeapSnapshotMessage, type PoolToWorkerMessage, type ProfileMessage, type RenderMessage, type WorkerStats, type WorkerToPoolMessage } from './protocol.js';

/**
 * A render worker process, started by the pool with child_process.fork. One job
 * at a time; between jobs its own event loop runs, so N-API finalizers free native
 * memory (docs/ARCHITECTURE.md, "Let native memory go"). Everything it holds dies
 * with it: the pool kills it past a deadline or a memory limit, and replaces it.
 */
const send = process.send?.bind(process);
if (!send) throw new Error('worker-main is started by the render pool (child_process.fork with an IPC channel)');

process.title = `chartd-worker-${process.env.CHARTD_WORKER_SLOT ?? ''}`;
// The pool decides when a worker ends. A Ctrl-C in a terminal, or a SIGTERM sent
// to the whole process group, is meant for the service, which drains its
// renders first; SIGKILL still ends a worker at once.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
// The pool is gone (even killed with SIGKILL): nobody is left to answer.
process.on('disconnect', () => process.exit(0));

let renders = 0;
/** The last settled reading, and the render count it was taken at. */
let settled: (SettledMemory & { renders: number }) | undefined;
/**
 * How often a rendering worker settles its memory: the leak detector's sampling
 * interval (10 s by default). A settle takes ~30 ms on an 11 MB worker heap
 * (bench/RESULTS.md, "Settled memory readings"), ~0.3 % of a busy worker's time;
 * an idle worker (no render since) is not collected again.
 */
const settleEveryMs = Number(process.env[SETTLE_EVERY_ENV]) || 10_000;
/** The pool's render limits over the defaults: the worker parses and validates, so the limits are applied here. */
const limits: RenderLimits = { ...DEFAULT_LIMITS, ...(JSON.parse(process.env[RENDER_LIMITS_ENV] || '{}') as Partial<RenderLimits>) };
/** When this worker's warm-up is over: its heap profiles `?since=warmup` count from then. */
const warmUpEnd: WarmUp = { ...WARM_UP, ...(JSON.parse(process.env[WARM_UP_ENV] || '{}') as Partial<WarmUp>) };
let warmUpMarked = false;
const WARM_UP_CHART = { type: 'line', data: { labels: ['a', 'b'], datasets: [{ label: 'warm-up', data: [1, 2] }] } };
const WARM_UP_SCRIPT = "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:(v) => v + '%'}}]}}}";

function readStats(): WorkerStats {
  const memory = process.memoryUsage();
  const leaked = leakedHandleCounts();
  return {
    renders,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    rssBytes: memory.rss,
    heapPostGcBytes: readPostGcHeapBytes(),
    settledHeapBytes: settled?.heapBytes,
    settledCodeBytes: settled?.codeBytes,
    settledExternalBytes: settled?.externalBytes,
    liveCharts: countLiveCharts(),
    liveSandboxes: liveScriptSessions(),
    leakedCharts: leaked.chart,
    leakedCanvases: leaked.canvas,
    native: nativeCounts(),
    gc: readGcTotals(),
  };
}

function reply(message: WorkerToPoolMessage): void {
  // A failed send means the pool is gone or closed the channel: exit.
  send!(message, undefined, {}, (error: Error | null) => {
    if (error) process.exit(0);
  });
}

/**
 * A heap profile is taken between renders: it waits for the render in progress and
 * the next render waits for it, so what a render holds for the moment (its config,
 * its chart, its image) is not counted as what the worker keeps.
 */
let renderInProgress: Promise<unknown> | undefined;
let heapCapture: Promise<unknown> | undefined;

async function afterHeapCapture(): Promise<void> {
  while (heapCapture) await heapCapture.catch(() => undefined);
}

async function handleRender({ taskId, input, ifNoneMatch, errorImage }: RenderMessage): Promise<void> {
  await afterHeapCapture();
  const rendering = answerChartRequest(input, { chartdVersion: CHARTD_VERSION, ifNoneMatch, errorImage, limits });
  renderInProgress = rendering;
  let answer: Awaited<typeof rendering>;
  try {
    answer = await rendering;
  } finally {
    renderInProgress = undefined;
  }
  renders++;
  reply({ type: 'answer', taskId, answer: toWireAnswer(answer), stats: readStats() });
  if (!warmUpMarked && renders >= warmUpEnd.renders && performance.now() >= warmUpEnd.ms) {
    warmUpMarked = true;
    // Without the mark, `?since=warmup` counts from when the worker was ready: still useful, so never fatal.
    await markHeapProfile('warmup').catch(() => undefined);
  }
}

async function handleProfile({ requestId, kind, seconds }: ProfileMessage): Promise<void> {
  try {
    const body = kind === 'cpu-profile' ? await captureCpuProfile(seconds ?? 10) : await betweenRenders(() => captureHeapProfile(kind === 'heap-growth' ? 'warmup' : 'boot'));
    reply({ type: 'capture', requestId, body, stats: readStats() });
  } catch (error) {
    reply({ type: 'capture-error', requestId, error: captureError(error), stats: readStats() });
  }
}

/** A forced full GC between renders, and its reading sent to the pool at once. */
async function settleBetweenRenders(): Promise<void> {
  if (settled?.renders === renders) return;
  // The count is read while renders are held off: the reading is of exactly that many.
  settled = await betweenRenders(async () => ({ ...(await settleMemory()), renders }));
  reply({ type: 'stats', stats: readStats() });
}

async function betweenRenders<T>(capture: () => Promise<T>): Promise<T> {
  await afterHeapCapture();
  const captured = (async () => {
    while (renderInProgress) await renderInProgress.catch(() => undefined);
    return capture();
  })();
  heapCapture = captured;
  try {
    return await captured;
  } finally {
    if (heapCapture === captured) heapCapture = undefined;
  }
}

/** Blocks this process while V8 writes the snapshot: the pool gives it no render meanwhile. */
function handleHeapSnapshot({ requestId, path }: HeapSnapshotMessage): void {
  try {
    writeHeapSnapshot(path);
    reply({ type: 'capture', requestId, body: undefined, stats: readStats() });
  } catch (error) {
    reply({ type: 'capture-error', requestId, error: captureError(error), stats: readStats() });
  }
}

function captureError(error: unknown): ReturnType<ChartdError['toJSON']> {
  const chartdError = error instanceof ChartdError ? error : new ChartdError('CAPTURE_FAILED', `the capture failed in the worker: ${toChartdError(error).message}`);
  return chartdError.toJSON();
}

process.on('message', (message: PoolToWorkerMessage) => {
  switch (message?.type) {
    case 'render':
      void handleRender(message);
      break;
    case 'profile':
      void handleProfile(message);
      break;
    case 'heap-snapshot':
      handleHeapSnapshot(message);
      break;
    case 'exit':
      process.exit(0);
  }
});

// Profiling from birth, so a heap profile shows everything this worker holds.
watchGc();
await startHeapSampling();
await warmUp();
await markHeapProfile('ready', { heldMs: warmUpEnd.heldMs }).catch(() => undefined);
reply({ type: 'ready', stats: readStats() });
// A failed settle leaves the last reading: the detector sees a flat line, never a fault.
setInterval(() => void settleBetweenRenders().catch(() => undefined), settleEveryMs).unref();

/**
 * Before taking work, a worker loads what renders need (fonts, the three Chart.js
 * majors, the encoders) by rendering a tiny chart in each: the first request
 * after a recycle is then as fast as any other, and the worker's memory starts
 * near its plateau instead of climbing during its first renders.
 */
async function warmUp(): Promise<void> {
  registerBundledFonts();
  if (limits.allowScripts) {
    await loadScriptEngine();
    await renderJob(createRenderJob({ chart: WARM_UP_SCRIPT, width: 100, height: 60 }, limits), { limits }).catch(() => undefined);
  }
  const warm = (version: 2 | 3 | 4, format: 'png' | 'webp' | 'jpeg' | 'svg' | 'pdf') =>
    renderJob(createRenderJob({ chart: WARM_UP_CHART, version, format, width: 100, height: 60 })).catch(() => undefined);
  // Each Chart.js major once; each encoder once (they do not depend on the major).
  for (const version of [2, 3, 4] as const) {
    getChartJsRuntime(version);
    await warm(version, 'png');
  }
  for (const format of ['webp', 'jpeg', 'svg', 'pdf'] as const) await warm(2, format);
  await renderQr(resolveQrJob({ text: 'chartd' })).catch(() => undefined);
}
