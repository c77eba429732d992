import { performance } from 'node:perf_hooks';
import { ChartdError } from '../errors.js';
import type { TaskEvent } from './pool-events.js';
import type { ChartOutcome, RequestOptions, Waits } from './pool-types.js';
import type { RenderInput, WireAnswer } from './protocol.js';
import type { WorkerSlot } from './worker-slot.js';

/** One job from submission to its answer: on the queue, then on a slot, then settled exactly once. */
export interface Task {
  id: number;
  input: RenderInput;
  ifNoneMatch: string | undefined;
  errorImage: boolean;
  tag: string | undefined;
  enqueuedAt: number;
  startedAt: number | undefined;
  slot: WorkerSlot<Task> | undefined;
  deadline: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve(outcome: ChartOutcome): void;
  reject(error: ChartdError): void;
  settled: boolean;
}

/**
 * A task for `input`, its deadline armed and its abort listener attached; it is
 * settled by settleTask. `onDeadline` and `onAbort` run under the pool's guard.
 */
export function createTask(
  id: number,
  input: RenderInput,
  options: RequestOptions,
  events: { timeoutMs: number; onDeadline(task: Task): void; onAbort(task: Task): void },
): { task: Task; settled: Promise<ChartOutcome> } {
  let task!: Task;
  const settled = new Promise<ChartOutcome>((resolve, reject) => {
    task = {
      id,
      input,
      ifNoneMatch: options.ifNoneMatch,
      errorImage: options.errorImage ?? false,
      tag: options.tag,
      enqueuedAt: performance.now(),
      startedAt: undefined,
      slot: undefined,
      deadline: setTimeout(() => events.onDeadline(task), events.timeoutMs),
      signal: options.signal,
      onAbort: undefined,
      resolve,
      reject,
      settled: false,
    };
  });
  if (options.signal) {
    task.onAbort = () => events.onAbort(task);
    options.signal.addEventListener('abort', task.onAbort, { once: true });
  }
  return { task, settled };
}

/**
 * Settles a task once (later calls do nothing): clears its deadline and its abort
 * listener, resolves or rejects its promise, and returns the event to publish.
 */
export function settleTask(task: Task, outcome: ChartOutcome | ChartdError): TaskEvent | undefined {
  if (task.settled) return undefined;
  task.settled = true;
  clearTimeout(task.deadline);
  if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
  const now = performance.now();
  const queueWaitMs = (task.startedAt ?? now) - task.enqueuedAt;
  const renderMs = task.startedAt === undefined ? 0 : now - task.startedAt;
  if (outcome instanceof ChartdError) {
    task.reject(outcome);
    return { job: undefined, outcome: 'failed', queueWaitMs, renderMs, timings: undefined, error: outcome, tag: task.tag };
  }
  task.resolve(outcome);
  return {
    job: outcome.job,
    outcome: outcome.type,
    queueWaitMs,
    renderMs,
    timings: outcome.timings,
    error: outcome.type === 'refused' ? outcome.error : undefined,
    tag: task.tag,
  };
}

/** A worker's answer as the pool's caller sees it: errors rebuilt as ChartdError, bytes as Buffers, waits measured here. */
export function toOutcome(task: Task, workerId: number, answer: WireAnswer): ChartOutcome {
  const waits: Waits = { queueWaitMs: task.startedAt! - task.enqueuedAt, renderMs: performance.now() - task.startedAt! };
  switch (answer.type) {
    case 'rendered':
      return { ...waits, ...answer, body: toBuffer(answer.body), workerId };
    case 'not-modified':
      return { ...waits, ...answer };
    case 'refused':
      return { ...waits, ...answer, error: ChartdError.fromSerialized(answer.error), image: answer.image && toBuffer(answer.image) };
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
