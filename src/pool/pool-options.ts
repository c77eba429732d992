import { availableParallelism } from 'node:os';

/** What a caller may pass to createRenderPool. */
export interface RenderPoolOptions {
  /** Worker threads; default one per core. */
  workers?: number;
  /** Jobs waiting for a worker; past it, run() fails at once with QUEUE_FULL. */
  maxQueue?: number;
  /** Deadline of one job from submission; past it RENDER_TIMEOUT, and a running job's worker is terminated. */
  timeoutMs?: number;
  /** A worker is recycled after this many renders. */
  maxRendersPerWorker?: number;
  /** A worker is recycled when its JS heap plus external memory passes this. */
  workerMemoryBudgetBytes?: number;
  /** V8 old-generation limit of a worker; a job past it crashes only that worker. */
  workerHeapLimitMb?: number;
  /** close() waits this long for queued and running jobs before destroying. */
  drainTimeoutMs?: number;
}

/** Resolved options: every field set. */
export type FilledRenderPoolOptions = Required<RenderPoolOptions>;

export const POOL_DEFAULTS: Readonly<FilledRenderPoolOptions> = Object.freeze({
  workers: availableParallelism(),
  maxQueue: 64, // jobs
  timeoutMs: 10_000, // 10 seconds
  maxRendersPerWorker: 5_000, // renders
  workerMemoryBudgetBytes: 256 * 1024 * 1024, // 256 MiB
  workerHeapLimitMb: 512, // MiB
  drainTimeoutMs: 30_000, // 30 seconds
});

export function fillRenderPoolOptions(options: RenderPoolOptions = {}): FilledRenderPoolOptions {
  const filled: FilledRenderPoolOptions = {
    workers: options.workers ?? POOL_DEFAULTS.workers,
    maxQueue: options.maxQueue ?? POOL_DEFAULTS.maxQueue,
    timeoutMs: options.timeoutMs ?? POOL_DEFAULTS.timeoutMs,
    maxRendersPerWorker: options.maxRendersPerWorker ?? POOL_DEFAULTS.maxRendersPerWorker,
    workerMemoryBudgetBytes: options.workerMemoryBudgetBytes ?? POOL_DEFAULTS.workerMemoryBudgetBytes,
    workerHeapLimitMb: options.workerHeapLimitMb ?? POOL_DEFAULTS.workerHeapLimitMb,
    drainTimeoutMs: options.drainTimeoutMs ?? POOL_DEFAULTS.drainTimeoutMs,
  };
  requireInteger('workers', filled.workers, 1);
  requireInteger('maxQueue', filled.maxQueue, 0);
  requireInteger('timeoutMs', filled.timeoutMs, 1);
  requireInteger('maxRendersPerWorker', filled.maxRendersPerWorker, 1);
  requireInteger('workerMemoryBudgetBytes', filled.workerMemoryBudgetBytes, 1);
  requireInteger('workerHeapLimitMb', filled.workerHeapLimitMb, 16);
  requireInteger('drainTimeoutMs', filled.drainTimeoutMs, 0);
  return filled;
}

function requireInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${value}`);
  }
}
