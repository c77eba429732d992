import type { ChartdError } from '../errors.js';
import type { JobSummary, StageTimings } from '../render/answer-chart-request.js';
import type { NativeCounts } from '../render/native-kinds.js';
import type { GcTotals } from '../diagnostics/gc-watch.js';
import type { RestartReason } from './pool-events.js';
import type { SlotState } from './worker-slot.js';

/** What run(job) resolves to: the library's view of one render. */
export interface PoolResult {
  body: Buffer;
  contentType: string;
  queueWaitMs: number;
  renderMs: number;
  drawMs: number;
  encodeMs: number;
  workerId: number;
}

export interface Waits {
  queueWaitMs: number;
  /** Time on a worker, as seen from the pool (IPC included). */
  renderMs: number;
}

/** What runRequest() resolves to. Failures of the pool itself (queue full, deadline, crash) reject instead. */
export type ChartOutcome = Waits &
  (
    | { type: 'rendered'; body: Buffer; contentType: string; etag: string; job: JobSummary; timings: StageTimings; workerId: number }
    | { type: 'not-modified'; etag: string; job: JobSummary; timings: StageTimings }
    | { type: 'refused'; error: ChartdError; job: JobSummary | undefined; image: Buffer | undefined; timings: StageTimings }
  );

export interface RequestOptions {
  signal?: AbortSignal | undefined;
  /** The client's If-None-Match: a worker that finds the chart's ETag in it answers not-modified without drawing. */
  ifNoneMatch?: string | undefined;
  /** Draw a refusal as a PNG. */
  errorImage?: boolean | undefined;
  /** An opaque label the pool hands back in this job's TaskEvent (e.g. the client, for fair-use accounting). */
  tag?: string | undefined;
}

export interface WorkerInfo {
  id: number;
  /** Stable position 0..workers-1: a replacement takes its predecessor's slot (metric label). */
  slot: number;
  pid: number | undefined;
  state: SlotState;
  renders: number;
  ageMs: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  heapPostGcBytes: number | undefined;
  /** Heap and external memory after the worker's last forced full GC: the leak detector's heap and external signals. */
  settledHeapBytes: number | undefined;
  /** Of settledHeapBytes, compiled code and bytecode (left out of the heap signal: it grows as V8 optimizes hot functions). */
  settledCodeBytes: number | undefined;
  settledExternalBytes: number | undefined;
  /** Resident set size read from the OS (native memory included). */
  residentBytes: number;
  /** CPU time of this process so far. */
  cpuSeconds: number;
  liveCharts: number;
  liveSandboxes: number;
  leakedCharts: number;
  leakedCanvases: number;
  /** Native objects (canvases, SVG canvases, images, paths) alive in the worker, by kind: count and pixel bytes. */
  native: NativeCounts;
  /** Garbage collections of this process so far, by kind: how many and their pauses. */
  gc: GcTotals;
  /** Age of the job it is rendering, if any. */
  currentTaskAgeMs: number | undefined;
}

export interface QueuedTaskInfo {
  taskId: number;
  ageMs: number;
  /** How the request came: query, json, form, or a ready job. */
  kind: string;
  /** Size of what the client sent (never its content). */
  requestBytes: number;
}

export interface PoolStats {
  workers: WorkerInfo[];
  queueDepth: number;
  maxQueue: number;
  inFlight: number;
  restarts: Record<RestartReason, number>;
  /** Per slot: CPU seconds of its workers that have exited. */
  retiredCpuSeconds: number[];
  closing: boolean;
}

export interface HeapSnapshotFile {
  path: string;
  sizeBytes: number;
  /** Deletes the file (it holds every secret the worker had in memory). */
  remove(): Promise<void>;
}
