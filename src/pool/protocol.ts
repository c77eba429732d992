import type { SerializedError } from '../errors.js';
import type { AnswerOf, ChartAnswer } from '../render/answer-chart-request.js';
import type { RawChartRequest } from '../render/chart-request.js';
import type { RenderJob } from '../render/job.js';
import type { NativeCounts } from '../render/native-kinds.js';
import type { GcTotals } from '../diagnostics/gc-watch.js';

/**
 * Messages between the pool (main process) and a render worker process, over
 * Node's IPC channel with `serialization: 'advanced'` (structured clone: byte
 * arrays cross as bytes, not JSON). Plain data only; errors travel as { code, message }.
 */

/** The environment variable that carries the pool's render limits (JSON) to a worker when it starts. */
export const RENDER_LIMITS_ENV = 'CHARTD_WORKER_RENDER_LIMITS';
/** ... and when its warm-up is over (JSON { ms, renders }). */
export const WARM_UP_ENV = 'CHARTD_WORKER_WARM_UP';
/** How often the worker settles its memory, ms (pool option settleEveryMs). */
export const SETTLE_EVERY_ENV = 'CHARTD_WORKER_SETTLE_MS';

export type RenderInput = { request: RawChartRequest } | { job: RenderJob };

export interface RenderMessage {
  type: 'render';
  taskId: number;
  input: RenderInput;
  ifNoneMatch: string | undefined;
  errorImage: boolean;
}

/** `heap-growth`: the heap profile of what was allocated after the worker's warm-up and is still held. */
export type ProfileKind = 'heap-profile' | 'heap-growth' | 'cpu-profile';

export interface ProfileMessage {
  type: 'profile';
  requestId: number;
  kind: ProfileKind;
  seconds: number | undefined;
}

/** Writes a V8 heap snapshot of the worker to `path` (a file the pool owns). */
export interface HeapSnapshotMessage {
  type: 'heap-snapshot';
  requestId: number;
  path: string;
}

/** Finish what you are doing and exit (the pool kills a worker that does not within its grace period). */
export interface ExitMessage {
  type: 'exit';
}

export type PoolToWorkerMessage = RenderMessage | ProfileMessage | HeapSnapshotMessage | ExitMessage;

/** What a worker says about itself with every reply. */
export interface WorkerStats {
  renders: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** Resident set size as the worker read it when replying. */
  rssBytes: number;
  /** Heap used after the worker's last major GC; undefined before the first. */
  heapPostGcBytes: number | undefined;
  /** Heap and external memory right after the worker's last forced full GC (diagnostics/settled-memory.ts); undefined before the first. */
  settledHeapBytes: number | undefined;
  /** Of settledHeapBytes, compiled code and bytecode with their metadata. */
  settledCodeBytes: number | undefined;
  settledExternalBytes: number | undefined;
  /** Chart.js instances alive in the worker (0 between renders, or a leak). */
  liveCharts: number;
  /** Script sandboxes (QuickJS runtimes) alive in the worker (0 between renders, or a leak). */
  liveSandboxes: number;
  leakedCharts: number;
  leakedCanvases: number;
  /** @napi-rs/canvas objects alive in the worker by kind, whoever made them (render/native-census.cts). */
  native: NativeCounts;
  /** The worker's garbage collections since it started, by kind. */
  gc: GcTotals;
}

/** A ChartAnswer as it crosses the process boundary. */
export type WireAnswer = AnswerOf<Uint8Array, SerializedError>;

export interface AnswerMessage {
  type: 'answer';
  taskId: number;
  answer: WireAnswer;
  stats: WorkerStats;
}

export interface ReadyMessage {
  type: 'ready';
  stats: WorkerStats;
}

export type CaptureReply =
  | { type: 'capture'; requestId: number; body: Uint8Array | undefined; stats: WorkerStats }
  | { type: 'capture-error'; requestId: number; error: SerializedError; stats: WorkerStats };

/** Stats between replies: after the worker settled its memory (it renders nothing meanwhile). */
export interface StatsMessage {
  type: 'stats';
  stats: WorkerStats;
}

export type WorkerToPoolMessage = AnswerMessage | ReadyMessage | CaptureReply | StatsMessage;

export function toWireAnswer(answer: ChartAnswer): WireAnswer {
  if (answer.type !== 'refused') return answer;
  return { ...answer, error: answer.error.toJSON() };
}
