import { availableParallelism } from 'node:os';
import type { RenderLimits } from '../render/limits.js';
import { WARM_UP, type WarmUp } from '../diagnostics/warm-up.js';

/** What a caller may pass to createRenderPool. */
export interface RenderPoolOptions {
  /** Worker processes; default one per core. At most this many are alive at any time, retiring ones included. */
  workers?: number;
  /** Jobs waiting for a worker; past it, run() fails at once with QUEUE_FULL. */
  maxQueue?: number;
  /**
   * Longest expected wait in the queue, ms: past it (estimated from recent render
   * times) a new job is refused with QUEUE_FULL as if the queue were full. 0: no bound but maxQueue.
   */
  maxQueueWaitMs?: number;
  /** Deadline of one job from submission; past it RENDER_TIMEOUT, and a running job's worker process is killed. */
  timeoutMs?: number;
  /** A worker is recycled after this many renders (the first of each slot a little earlier, so slots do not recycle together). */
  maxRendersPerWorker?: number;
  /** A worker whose resident memory (RSS, native memory included) passes this is recycled between renders. */
  workerMemoryBudgetBytes?: number;
  /** A worker whose resident memory passes this while rendering is killed; its render fails with RENDER_OUT_OF_MEMORY. */
  workerMemoryLimitBytes?: number;
  /** V8 old-generation limit of each worker process (`--max-old-space-size`). */
  workerHeapLimitMb?: number;
  /** close() waits this long for queued and running jobs before ending the workers. */
  drainTimeoutMs?: number;
  /** A worker asked to exit gets this long before SIGKILL. */
  exitGraceMs?: number;
  /** How often each worker's resident memory and CPU time are read from the OS. */
  usageSampleIntervalMs?: number;
  /** Longest a heap snapshot may hold its worker; past it the worker is killed and the capture fails. */
  captureTimeoutMs?: number;
  /**
   * Extra Node.js flags for the worker processes, e.g. `['--import', '/path/to/instrumentation.js']`.
   * Set by whoever starts the pool, never by a request.
   */
  workerExecArgv?: readonly string[];
  /** Render limits for the workers, over DEFAULT_LIMITS (they parse, validate and render: the limits are theirs to apply). */
  renderLimits?: Partial<RenderLimits>;
  /** When a worker's warm-up is over, for its heap profiles `?since=warmup` (the leak detector's warm-up). */
  warmUp?: WarmUp;
  /** How often a rendering worker forces a full GC and reports its settled memory (the leak detector's heap and external signals), ms. */
  settleEveryMs?: number;
}

/** Resolved options: every field set. */
export type FilledRenderPoolOptions = Readonly<Required<RenderPoolOptions>>;

const MIB = 1024 * 1024;

export const POOL_DEFAULTS: FilledRenderPoolOptions = Object.freeze({
  workers: availableParallelism(),
  maxQueue: 64, // jobs
  maxQueueWaitMs: 0, // ms: off
  timeoutMs: 10_000, // 10 seconds
  maxRendersPerWorker: 5_000, // renders
  // A worker process is ~90 MiB resident when it starts and settles at ~170-180 MiB
  // with Chart.js 2, 3 and 4 loaded (bench/RESULTS.md): the budget leaves room for
  // a 16-megapixel render, the limit for one that is worth finishing.
  workerMemoryBudgetBytes: 512 * MIB,
  workerMemoryLimitBytes: 1024 * MIB,
  workerHeapLimitMb: 512, // MiB
  drainTimeoutMs: 30_000, // 30 seconds
  exitGraceMs: 2_000, // 2 seconds
  usageSampleIntervalMs: 250, // ms
  captureTimeoutMs: 120_000, // 2 minutes
  workerExecArgv: Object.freeze([]) as readonly string[],
  renderLimits: Object.freeze({}),
  warmUp: WARM_UP,
  settleEveryMs: 10_000, // the leak detector's default sampling interval
});

export function fillRenderPoolOptions(options: RenderPoolOptions = {}): FilledRenderPoolOptions {
  const filled: Required<RenderPoolOptions> = {
    workers: options.workers ?? POOL_DEFAULTS.workers,
    maxQueue: options.maxQueue ?? POOL_DEFAULTS.maxQueue,
    maxQueueWaitMs: options.maxQueueWaitMs ?? POOL_DEFAULTS.maxQueueWaitMs,
    timeoutMs: options.timeoutMs ?? POOL_DEFAULTS.timeoutMs,
    maxRendersPerWorker: options.maxRendersPerWorker ?? POOL_DEFAULTS.maxRendersPerWorker,
    workerMemoryBudgetBytes: options.workerMemoryBudgetBytes ?? POOL_DEFAULTS.workerMemoryBudgetBytes,
    workerMemoryLimitBytes: options.workerMemoryLimitBytes ?? POOL_DEFAULTS.workerMemoryLimitBytes,
    workerHeapLimitMb: options.workerHeapLimitMb ?? POOL_DEFAULTS.workerHeapLimitMb,
    drainTimeoutMs: options.drainTimeoutMs ?? POOL_DEFAULTS.drainTimeoutMs,
    exitGraceMs: options.exitGraceMs ?? POOL_DEFAULTS.exitGraceMs,
    usageSampleIntervalMs: options.usageSampleIntervalMs ?? POOL_DEFAULTS.usageSampleIntervalMs,
    captureTimeoutMs: options.captureTimeoutMs ?? POOL_DEFAULTS.captureTimeoutMs,
    settleEveryMs: options.settleEveryMs ?? POOL_DEFAULTS.settleEveryMs,
    workerExecArgv: Object.freeze([...(options.workerExecArgv ?? POOL_DEFAULTS.workerExecArgv)]),
    renderLimits: Object.freeze({ ...(options.renderLimits ?? POOL_DEFAULTS.renderLimits) }),
    warmUp: Object.freeze({ ...(options.warmUp ?? POOL_DEFAULTS.warmUp) }),
  };
  requireInteger('workers', filled.workers, 1);
  requireInteger('maxQueue', filled.maxQueue, 0);
  requireInteger('maxQueueWaitMs', filled.maxQueueWaitMs, 0);
  requireInteger('timeoutMs', filled.timeoutMs, 1);
  requireInteger('maxRendersPerWorker', filled.maxRendersPerWorker, 1);
  requireInteger('workerMemoryBudgetBytes', filled.workerMemoryBudgetBytes, 1);
  requireInteger('workerMemoryLimitBytes', filled.workerMemoryLimitBytes, 1);
  requireInteger('workerHeapLimitMb', filled.workerHeapLimitMb, 16);
  requireInteger('drainTimeoutMs', filled.drainTimeoutMs, 0);
  requireInteger('exitGraceMs', filled.exitGraceMs, 0);
  requireInteger('usageSampleIntervalMs', filled.usageSampleIntervalMs, 10);
  requireInteger('captureTimeoutMs', filled.captureTimeoutMs, 1);
  requireInteger('settleEveryMs', filled.settleEveryMs, 10);
  if (filled.workerMemoryLimitBytes < filled.workerMemoryBudgetBytes) {
    throw new TypeError(
      `options.workerMemoryLimitBytes (${filled.workerMemoryLimitBytes}) must be at least options.workerMemoryBudgetBytes (${filled.workerMemoryBudgetBytes})`,
    );
  }
  if (!filled.workerExecArgv.every((flag) => typeof flag === 'string')) throw new TypeError('options.workerExecArgv must be an array of strings');
  return Object.freeze(filled);
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${value}`);
  }
}
