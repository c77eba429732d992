import type { SerializedError } from '../errors.js';
import type { RenderJob } from '../render/job.js';

/** Messages between the pool (main thread) and a render worker. Plain data only. */

export interface RenderTaskMessage {
  type: 'render';
  taskId: number;
  job: RenderJob;
}

export type DiagnosisKind = 'heap-profile' | 'cpu-profile';

export interface DiagnoseMessage {
  type: 'diagnose';
  requestId: number;
  kind: DiagnosisKind;
  seconds?: number;
}

export type PoolToWorkerMessage = RenderTaskMessage | DiagnoseMessage;

export interface WorkerStats {
  renders: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  /** Heap used after the worker's last major GC; undefined before the first. */
  heapPostGcBytes: number | undefined;
  /** Chart.js instances alive in the worker (0 between renders, or a leak). */
  liveCharts: number;
  leakedCharts: number;
  leakedCanvases: number;
}

export type RenderReplyMessage =
  | {
      type: 'result';
      taskId: number;
      body: Uint8Array;
      contentType: string;
      drawMs: number;
      encodeMs: number;
      stats: WorkerStats;
    }
  | { type: 'error'; taskId: number; error: SerializedError; stats: WorkerStats };

export interface ReadyMessage {
  type: 'ready';
  stats: WorkerStats;
}

export type DiagnosisReply =
  | { type: 'diagnosis'; requestId: number; body: Uint8Array; stats: WorkerStats }
  | { type: 'diagnosis-error'; requestId: number; error: string; stats: WorkerStats };

export type WorkerReply = RenderReplyMessage | ReadyMessage | DiagnosisReply;
