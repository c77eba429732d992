import { EventEmitter } from 'node:events';
import type { RestartReason } from './pool-events.js';
import type { WorkerToPoolMessage } from './protocol.js';
import { WorkerProcess, type KillReason, type WorkerExit } from './worker-process.js';
import type { WarmUp } from '../diagnostics/warm-up.js';

/**
 * - down: no process (waiting to respawn, or stopped);
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

export interface SlotOptions {
  slots: number;
  heapLimitMb: number;
  execArgv: readonly string[];
  renderLimits: object;
  warmUp: WarmUp;
  settleEveryMs: number;
  exitGraceMs: number;
  maxRendersPerWorker: number;
}

/** A worker of this slot has exited; the slot respawns right after its listeners ran (unless stopped). */
export interface SlotExit<T> {
  worker: WorkerProcess;
  exit: WorkerExit;
  /** The pool asked for it (recycle, deadline, shutdown); false for a crash. */
  expected: boolean;
  /** The job that was on the slot, if any: the listener settles it. */
  task: T | undefined;
}

interface WorkerSlotEvents<T> {
  start: [WorkerProcess];
  ready: [WorkerProcess];
  message: [WorkerProcess, WorkerToPoolMessage];
  output: [WorkerProcess, 'stdout' | 'stderr', string];
  exit: [SlotExit<T>];
  fault: [where: string, error: unknown];
}

const MAX_RESPAWN_DELAY_MS = 30_000;
/** A worker that is not ready this long after its start is killed (and counts as a failed start). */
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * One of the pool's `workers` places, and the lifecycle of the processes that
 * take it in turn: spawn, ready, retire (asked, or killed), exit, respawn (with
 * backoff after failed starts). It holds at most one process at a time, so
 * `--workers N` is the number of render processes alive, those being retired
 * included: a replacement starts only once its predecessor has exited.
 * What the jobs on it mean is the pool's business.
 */
export class WorkerSlot<T> extends EventEmitter<WorkerSlotEvents<T>> {
  readonly index: number;
  state: SlotState = 'down';
  worker: WorkerProcess | undefined;
  task: T | undefined;
  /** Renders after which the current worker is recycled. */
  renderLimit: number;
  /** A recycle asked for while the worker was busy or capturing: done when it is quiet. */
  retireAfter: RestartReason | undefined;
  lastDispatchAt = 0;
  snapshot: PendingSnapshot | undefined;
  /** CPU time of this slot's workers that have exited. */
  retiredCpuSeconds = 0;
  readonly #options: SlotOptions;
  /** The exit that comes counts as a crash (an operator's terminate, a worker that stopped listening). */
  #crashOnExit = false;
  /** Workers in a row that died before they were ready: the respawn backs off. */
  #failedStarts = 0;
  #spawned = 0;
  #stopped = false;
  #respawnTimer: NodeJS.Timeout | undefined;
  #startTimer: NodeJS.Timeout | undefined;

  constructor(index: number, options: SlotOptions) {
    super();
    this.index = index;
    this.#options = options;
    this.renderLimit = firstRenderLimit(index, options.slots, options.maxRendersPerWorker);
  }

  /** A worker that has said it is ready and has not been told to go. */
  get ready(): boolean {
    return this.state === 'idle' || this.state === 'busy' || this.state === 'capturing';
  }

  get acceptsJob(): boolean {
    return this.state === 'idle' && this.snapshot === undefined;
  }

  /** Starts a worker process in this slot. */
  start(): void {
    this.#respawnTimer = undefined;
    if (this.#stopped) {
      this.state = 'down';
      return;
    }
    let worker: WorkerProcess;
    try {
      const { heapLimitMb, execArgv, renderLimits, warmUp, settleEveryMs } = this.#options;
      worker = new WorkerProcess({ id: nextWorkerId++, slot: this.index, heapLimitMb, execArgv, renderLimits, warmUp, settleEveryMs });
    } catch (error) {
      // fork() itself threw (out of descriptors or processes): try again later, with backoff.
      this.emit('fault', 'starting a worker', error);
      this.#failedStarts++;
      this.#scheduleStart();
      return;
    }
    if (this.#spawned++ > 0) this.renderLimit = this.#options.maxRendersPerWorker;
    this.worker = worker;
    this.state = 'starting';
    this.#crashOnExit = false;
    this.retireAfter = undefined;
    worker.on('message', (message) => this.#guard('a worker message', () => this.#onMessage(worker, message)));
    worker.on('output', (stream, line) => this.#guard('worker output', () => this.emit('output', worker, stream, line)));
    worker.on('exit', (exit) => this.#guard('a worker exit', () => this.#onExit(worker, exit)));
    this.#startTimer = setTimeout(() => {
      if (this.worker === worker && this.state === 'starting') worker.kill('terminated');
    }, STARTUP_TIMEOUT_MS);
    this.#startTimer.unref();
    this.emit('start', worker);
  }

  /** Ends the current worker so that a new one takes the slot: asked to exit, or killed now. */
  retire(kill?: KillReason): void {
    const worker = this.worker;
    if (!worker) return;
    this.state = 'retiring';
    if (kill) worker.kill(kill);
    else worker.requestExit(this.#options.exitGraceMs);
  }

  /** Kills the current worker as a crash would (counted as one). False when there is none to kill. */
  terminate(): boolean {
    if (!this.worker || this.state === 'retiring' || this.state === 'down') return false;
    this.#crashOnExit = true;
    this.retire('terminated');
    return true;
  }

  /** The worker's channel closed under us (a send failed): it is on its way out; count its exit as a crash. */
  abandon(): void {
    this.#crashOnExit = true;
    this.retire('terminated');
  }

  /** Ends the slot for good: no respawn; an idle worker is asked to exit, any other killed. Resolves once it has exited. */
  async stop(kill: boolean): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#respawnTimer);
    const worker = this.worker;
    if (!worker) return;
    if (kill || this.state !== 'idle') worker.kill('shutdown');
    else worker.requestExit(this.#options.exitGraceMs);
    this.state = 'retiring';
    await worker.whenExited();
  }

  #onMessage(worker: WorkerProcess, message: WorkerToPoolMessage): void {
    if (worker !== this.worker) return;
    if (message.type !== 'ready') {
      this.emit('message', worker, message);
      return;
    }
    clearTimeout(this.#startTimer);
    if (this.state !== 'starting') return;
    this.state = 'idle';
    this.#failedStarts = 0;
    this.#guard("a 'ready' listener", () => this.emit('ready', worker));
  }

  #onExit(worker: WorkerProcess, exit: WorkerExit): void {
    if (worker !== this.worker) return;
    clearTimeout(this.#startTimer);
    const expected = this.state === 'retiring' && !this.#crashOnExit;
    if (!expected && this.state === 'starting') this.#failedStarts++;
    const task = this.task;
    this.worker = undefined;
    this.task = undefined;
    this.snapshot = undefined;
    this.state = 'down';
    this.retiredCpuSeconds += exit.usage?.cpuSeconds ?? 0;
    // The pool settles the job and counts the restart; whatever it throws, the slot respawns.
    this.#guard("an 'exit' listener", () => this.emit('exit', { worker, exit, expected, task }));
    this.#scheduleStart();
  }

  /** A worker that dies while starting would die again at once: back off (0.5 s doubling to 30 s). */
  #scheduleStart(): void {
    if (this.#stopped) return;
    const delayMs = this.#failedStarts === 0 ? 0 : Math.min(MAX_RESPAWN_DELAY_MS, 250 * 2 ** this.#failedStarts);
    if (delayMs === 0) {
      this.start();
      return;
    }
    this.#respawnTimer = setTimeout(() => this.#guard('a respawn', () => this.start()), delayMs);
    this.#respawnTimer.unref();
  }

  #guard(where: string, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.emit('fault', where, error);
    }
  }
}

/** Process-wide, so worker ids stay unique across pools (a log line names one worker). */
let nextWorkerId = 1;

/**
 * Renders after which a slot's first worker is recycled: slot i of n at
 * `max × (1 − i / 2n)`, so that workers that share the load evenly do not all
 * restart at once (their successors keep the offset).
 */
export function firstRenderLimit(slot: number, slots: number, maxRenders: number): number {
  return Math.max(1, Math.round(maxRenders * (1 - slot / (2 * slots))));
}
