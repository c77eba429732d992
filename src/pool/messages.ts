import type { SerializedError } from '../errors.js';
import type { RenderJob } from '../render/job.js';

/** Messages between the pool (main thread) and a render worker. Plain data only. */

export interface RenderTaskMessage {
  type: 'render';
  taskId: number;
  job: RenderJob;
}

export interface WorkerStats {
  renders: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
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

export type WorkerReply = RenderReplyMessage | ReadyMessage;
