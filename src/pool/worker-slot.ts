import type { RestartReason } from './pool-events.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * - down: no process (waiting to respawn, or the pool is closed);
 * - starting: spawned, not yet ready;
 * - idle / busy: ready, without or with a job;
 * - capturing: writing a heap snapshot (takes no job meanwhile);
 * - retiring: asked to exit or killed; still counts until its process has exited.
 */
export type SlotState = 'down' | 'starting' | 'idle' | 'busy' | 'capturing' | 'retiring';

export interface PendingSnapshot {
  requestId: number;
  path: string;
  /** False while the snapshot waits for the slot's running job to end. */
  started: boolean;
}

/**
 * One of the pool's `workers` places. It holds at most one worker process at a
 * time, so `--workers N` is the number of render processes alive, those being
 * retired included: a replacement starts only once its predecessor has exited.
 */
export class WorkerSlot<T> {
  readonly index: number;
  state: SlotState = 'down';
  worker: WorkerProcess | undefined;
  task: T | undefined;
  /** Renders after which the current worker is recycled. */
  renderLimit: number;
  /** A recycle asked for while the worker was busy or capturing: done when it is quiet. */
  retireAfter: RestartReason | undefined;
  /** The exit that comes counts as a crash (an operator's terminate, a worker that stopped listening). */
  crashOnExit = false;
  /** Workers in a row that died before they were ready: the respawn backs off. */
  failedStarts = 0;
  lastDispatchAt = 0;
  respawnTimer: NodeJS.Timeout | undefined;
  startTimer: NodeJS.Timeout | undefined;
  snapshot: PendingSnapshot | undefined;
  /** Workers this slot has started. */
  spawned = 0;
  /** CPU time of this slot's workers that have exited. */
  retiredCpuSeconds = 0;

  constructor(index: number, renderLimit: number) {
    this.index = index;
    this.renderLimit = renderLimit;
  }

  /** A worker that has said it is ready and has not been told to go. */
  get ready(): boolean {
    return this.state === 'idle' || this.state === 'busy' || this.state === 'capturing';
  }

  get acceptsJob(): boolean {
    return this.state === 'idle' && this.snapshot === undefined;
  }
}

/**
 * Renders after which a slot's first worker is recycled: slot i of n at
 * `max × (1 − i / 2n)`, so that workers that share the load evenly do not all
 * restart at once (their successors keep the offset).
 */
export function firstRenderLimit(slot: number, slots: number, maxRenders: number): number {
  return Math.max(1, Math.round(maxRenders * (1 - slot / (2 * slots))));
}
