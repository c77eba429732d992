import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { ChartdError } from '../errors.js';
import type { RenderJob } from '../render/job.js';
import type { DiagnosisKind, RenderReplyMessage, WorkerReply, WorkerStats } from './messages.js';
import { fillRenderPoolOptions, type FilledRenderPoolOptions, type RenderPoolOptions } from './pool-options.js';

export type RestartReason = 'recycled' | 'memory' | 'deadline' | 'crash';
export type RejectReason = 'queue_full' | 'shutting_down';

export interface PoolResult {
  body: Buffer;
  contentType: string;
  queueWaitMs: number;
  renderMs: number;
  drawMs: number;
  encodeMs: number;
  workerId: number;
}

/** Emitted once per settled job. */
export interface TaskEvent {
  job: RenderJob;
  queueWaitMs: number;
  /** Time on a worker; 0 when the job never reached one. */
  renderMs: number;
  error?: ChartdError;
}

export interface WorkerInfo {
  id: number;
  /** Stable position 0..workers-1: a replacement takes its predecessor's slot (metric label). */
  slot: number;
  threadId: number;
  state: WorkerState;
  renders: number;
  ageMs: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  heapPostGcBytes: number | undefined;
  liveCharts: number;
  leakedCharts: number;
  leakedCanvases: number;
  /** Age of the job it is rendering, if any. */
  currentTaskAgeMs: number | undefined;
}

export interface QueuedTaskInfo {
  taskId: number;
  ageMs: number;
  format: string;
  width: number;
  height: number;
  version: number;
}

export interface PoolStats {
  workers: WorkerInfo[];
  queueDepth: number;
  maxQueue: number;
  inFlight: number;
  restarts: Record<RestartReason, number>;
  closing: boolean;
}

type WorkerState = 'starting' | 'idle' | 'busy' | 'retiring';

interface Task {
  id: number;
  job: RenderJob;
  enqueuedAt: number;
  startedAt: number | undefined;
  slot: WorkerSlot | undefined;
  deadline: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve(result: PoolResult): void;
  reject(error: ChartdError): void;
  settled: boolean;
}

interface WorkerSlot {
  id: number;
  slot: number;
  worker: Worker;
  state: WorkerState;
  startedAt: number;
  stats: WorkerStats;
  task: Task | undefined;
  error: Error | undefined;
  recycleAfterTask: RestartReason | undefined;
  lastDispatchAt: number;
  terminated: boolean;
}

const WORKER_URL = new URL('./worker-entry.js', import.meta.url);
const MAX_RESPAWN_DELAY_MS = 30_000;

/**
 * A bounded pool of render worker threads. Each worker renders one job at a time;
 * the queue in front of them is bounded (QUEUE_FULL past it). A job past its
 * deadline terminates its worker, so the work stops, not only the waiting. A
 * worker is recycled after `maxRendersPerWorker` renders or when its memory
 * passes the budget, between jobs, so no job is dropped. A crashed worker fails
 * only its own job and is replaced.
 *
 * piscina was the first candidate (STYLE.md); it has no per-worker recycling or
 * memory budget, and its queue hides which jobs have started, which a client
 * disconnect and the resources page both need to know. So the pool is our own,
 * on node:worker_threads, with piscina's lifecycle conventions.
 *
 * @example
 * ```ts
 * await using pool = createRenderPool({ workers: 2 });
 * const { body } = await pool.run(createRenderJob({ chart: config }));
 * ```
 */
export class RenderPool extends EventEmitter {
  readonly options: FilledRenderPoolOptions;
  readonly #slots = new Set<WorkerSlot>();
  readonly #queue: Task[] = [];
  readonly #restarts: Record<RestartReason, number> = { recycled: 0, memory: 0, deadline: 0, crash: 0 };
  #nextTaskId = 1;
  #nextWorkerId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #failedStarts = 0;
  #started = false;
  #nextDiagnosisId = 1;
  readonly #diagnoses = new Map<number, { resolve(body: Buffer): void; reject(error: Error): void }>();

  constructor(options: RenderPoolOptions = {}) {
    super();
    this.options = fillRenderPoolOptions(options);
    for (let i = 0; i < this.options.workers; i++) this.#spawn(i);
  }

  /**
   * Resolves true when every worker has started (loaded fonts and Chart.js), or
   * false after `timeoutMs` (workers that crash while starting are retried with
   * backoff; the caller decides whether to go on).
   */
  async ready(timeoutMs = 30_000): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while ([...this.#slots].some((slot) => slot.state === 'starting')) {
      if (performance.now() > until) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.#started = true;
    return true;
  }

  /** True once every initial worker has started (see ready()). */
  get started(): boolean {
    return this.#started;
  }

  /** Submits a job. Rejects with a ChartdError: QUEUE_FULL, SHUTTING_DOWN, ABORTED, RENDER_TIMEOUT, WORKER_CRASHED or the render's own error. */
  run(job: RenderJob, { signal }: { signal?: AbortSignal } = {}): Promise<PoolResult> {
    if (this.#closing) {
      this.emit('rejected', 'shutting_down' satisfies RejectReason);
      return Promise.reject(new ChartdError('SHUTTING_DOWN', 'chartd is shutting down and takes no new renders'));
    }
    if (signal?.aborted) return Promise.reject(new ChartdError('ABORTED', 'the request was aborted before its render started'));
    if (this.#queue.length >= this.options.maxQueue && !this.#findIdleSlot()) {
      this.emit('rejected', 'queue_full' satisfies RejectReason);
      return Promise.reject(
        new ChartdError('QUEUE_FULL', `all ${this.options.workers} render workers are busy and ${this.#queue.length} renders are queued; retry shortly`),
      );
    }
    return new Promise<PoolResult>((resolve, reject) => {
      const task: Task = {
        id: this.#nextTaskId++,
        job,
        enqueuedAt: performance.now(),
        startedAt: undefined,
        slot: undefined,
        deadline: setTimeout(() => this.#onDeadline(task), this.options.timeoutMs),
        signal,
        onAbort: undefined,
        resolve,
        reject,
        settled: false,
      };
      if (signal) {
        task.onAbort = () => this.#onClientAbort(task);
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.#queue.push(task);
      this.#dispatch();
    });
  }

  /** True when a new job would be refused: queue full with no idle worker, or closing. */
  get saturated(): boolean {
    return this.#closing || (this.#queue.length >= this.options.maxQueue && !this.#findIdleSlot());
  }

  get closing(): boolean {
    return this.#closing;
  }

  stats(): PoolStats {
    const now = performance.now();
    return {
      workers: [...this.#slots].map((slot) => ({
        id: slot.id,
        slot: slot.slot,
        threadId: slot.worker.threadId,
        state: slot.state,
        renders: slot.stats.renders,
        ageMs: now - slot.startedAt,
        heapUsedBytes: slot.stats.heapUsedBytes,
        heapTotalBytes: slot.stats.heapTotalBytes,
        externalBytes: slot.stats.externalBytes,
        heapPostGcBytes: slot.stats.heapPostGcBytes,
        liveCharts: slot.stats.liveCharts,
        leakedCharts: slot.stats.leakedCharts,
        leakedCanvases: slot.stats.leakedCanvases,
        currentTaskAgeMs: slot.task?.startedAt === undefined ? undefined : now - slot.task.startedAt,
      })),
      queueDepth: this.#queue.length,
      maxQueue: this.options.maxQueue,
      inFlight: [...this.#slots].filter((slot) => slot.task).length,
      restarts: { ...this.#restarts },
      closing: this.#closing,
    };
  }

  /** Sizes only: a config may hold data its owner would not want on a debug page. */
  queuedTasks(): QueuedTaskInfo[] {
    const now = performance.now();
    return this.#queue.map((task) => ({
      taskId: task.id,
      ageMs: now - task.enqueuedAt,
      format: task.job.format,
      width: task.job.width,
      height: task.job.height,
      version: task.job.version,
    }));
  }

  /** The live worker thread in a slot (0..workers-1), for heap snapshots. */
  getWorker(slotIndex: number): Worker | undefined {
    return this.#liveSlot(slotIndex)?.worker;
  }

  /**
   * Asks the worker in a slot for a pprof profile of its own thread. Its event
   * loop answers between renders, so a profile waits for a running render.
   */
  diagnoseWorker(slotIndex: number, kind: DiagnosisKind, seconds?: number): Promise<Buffer> {
    const slot = this.#liveSlot(slotIndex);
    if (!slot) return Promise.reject(new ChartdError('NOT_FOUND', `no running worker ${slotIndex}; workers are 0 to ${this.options.workers - 1}`));
    const requestId = this.#nextDiagnosisId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#diagnoses.set(requestId, { resolve, reject });
      slot.worker.postMessage({ type: 'diagnose', requestId, kind, seconds });
      // A worker replaced meanwhile never answers: fail instead of hanging.
      slot.worker.once('exit', () => {
        if (this.#diagnoses.delete(requestId)) reject(new Error(`worker ${slotIndex} exited before answering`));
      });
    });
  }

  /**
   * Replaces the worker in a slot: at once when idle, else after its current
   * render (which completes). For operators and the leak detector.
   */
  recycleWorker(slotIndex: number, reason: RestartReason = 'recycled'): boolean {
    const slot = this.#liveSlot(slotIndex);
    if (!slot) return false;
    if (slot.state === 'busy') slot.recycleAfterTask = reason;
    else this.#retire(slot, reason);
    return true;
  }

  /** Ends the worker in a slot now, as a crash would: its running render fails with WORKER_CRASHED. For chaos tests. */
  terminateWorker(slotIndex: number): boolean {
    const slot = this.#liveSlot(slotIndex);
    if (!slot) return false;
    slot.error = new Error('terminated by an operator');
    // Until its exit event, an idle worker must not be handed a job it would lose.
    slot.terminated = true;
    void slot.worker.terminate();
    return true;
  }

  #liveSlot(slotIndex: number): WorkerSlot | undefined {
    for (const slot of this.#slots) if (slot.slot === slotIndex && slot.state !== 'retiring') return slot;
    return undefined;
  }

  /**
   * Stops taking jobs, lets queued and running ones finish (bounded by
   * drainTimeoutMs; what is left then fails with SHUTTING_DOWN), then ends the
   * workers. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Ends every worker now; queued and running jobs fail with SHUTTING_DOWN. Idempotent. */
  async destroy(): Promise<void> {
    this.#closing = true;
    const error = () => new ChartdError('SHUTTING_DOWN', 'chartd shut down before this render finished');
    for (const task of this.#queue.splice(0)) this.#settle(task, error());
    const exits: Promise<unknown>[] = [];
    for (const slot of this.#slots) {
      if (slot.task) this.#settle(slot.task, error());
      slot.state = 'retiring';
      exits.push(slot.worker.terminate());
    }
    await Promise.allSettled(exits);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#hasWork()) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.drainTimeoutMs);
        timer.unref();
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
    }
    await this.destroy();
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || [...this.#slots].some((slot) => slot.task);
  }

  /** The idle worker that has waited longest, so work and memory spread over all workers. */
  #findIdleSlot(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (slot.state === 'idle' && !slot.terminated && (!best || slot.lastDispatchAt < best.lastDispatchAt)) best = slot;
    }
    return best;
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#findIdleSlot();
      if (!slot) return;
      const task = this.#queue.shift()!;
      slot.state = 'busy';
      slot.lastDispatchAt = performance.now();
      slot.task = task;
      task.slot = slot;
      task.startedAt = performance.now();
      slot.worker.postMessage({ type: 'render', taskId: task.id, job: task.job });
    }
  }

  #spawn(slotIndex: number, delayMs = 0): void {
    if (this.#closing) return;
    if (delayMs > 0) {
      setTimeout(() => this.#spawn(slotIndex), delayMs).unref();
      return;
    }
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxOldGenerationSizeMb: this.options.workerHeapLimitMb },
    });
    const slot: WorkerSlot = {
      id: this.#nextWorkerId++,
      slot: slotIndex,
      worker,
      state: 'starting',
      startedAt: performance.now(),
      stats: {
        renders: 0,
        heapUsedBytes: 0,
        heapTotalBytes: 0,
        externalBytes: 0,
        arrayBuffersBytes: 0,
        heapPostGcBytes: undefined,
        liveCharts: 0,
        leakedCharts: 0,
        leakedCanvases: 0,
      },
      task: undefined,
      error: undefined,
      recycleAfterTask: undefined,
      lastDispatchAt: 0,
      terminated: false,
    };
    this.#slots.add(slot);
    worker.on('message', (message: WorkerReply) => this.#onMessage(slot, message));
    worker.on('error', (error) => {
      slot.error = error;
    });
    worker.on('exit', (code) => this.#onExit(slot, code));
    this.emit('workerStart', slot.id);
  }

  #onMessage(slot: WorkerSlot, message: WorkerReply): void {
    slot.stats = message.stats;
    if (message.type === 'ready') {
      this.#failedStarts = 0;
      if (slot.state === 'starting') slot.state = 'idle';
      this.#dispatch();
      return;
    }
    if (message.type === 'diagnosis' || message.type === 'diagnosis-error') {
      const pending = this.#diagnoses.get(message.requestId);
      this.#diagnoses.delete(message.requestId);
      if (message.type === 'diagnosis') pending?.resolve(Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength));
      else pending?.reject(new Error(message.error));
      return;
    }
    const task = slot.task;
    if (!task || task.id !== message.taskId) return;
    slot.task = undefined;
    this.#settle(task, message.type === 'error' ? ChartdError.fromSerialized(message.error) : this.#toResult(task, slot, message));
    if (slot.state !== 'busy') return;
    if (slot.recycleAfterTask) this.#retire(slot, slot.recycleAfterTask);
    else if (slot.stats.renders >= this.options.maxRendersPerWorker) this.#retire(slot, 'recycled');
    else if (slot.stats.heapUsedBytes + slot.stats.externalBytes > this.options.workerMemoryBudgetBytes) this.#retire(slot, 'memory');
    else slot.state = 'idle';
    this.#dispatch();
  }

  #toResult(task: Task, slot: WorkerSlot, message: Extract<RenderReplyMessage, { type: 'result' }>): PoolResult {
    const now = performance.now();
    return {
      body: Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength),
      contentType: message.contentType,
      queueWaitMs: task.startedAt! - task.enqueuedAt,
      renderMs: now - task.startedAt!,
      drawMs: message.drawMs,
      encodeMs: message.encodeMs,
      workerId: slot.id,
    };
  }

  /** Replaces a worker: the replacement starts first, then the old one ends. */
  #retire(slot: WorkerSlot, reason: RestartReason): void {
    slot.state = 'retiring';
    this.#restarts[reason]++;
    this.emit('restart', reason, slot.id);
    this.#spawn(slot.slot);
    void slot.worker.terminate();
  }

  #onExit(slot: WorkerSlot, code: number): void {
    this.#slots.delete(slot);
    this.emit('workerExit', slot.id, slot.stats);
    const wasRetiring = slot.state === 'retiring';
    const task = slot.task;
    slot.task = undefined;
    if (task) {
      const outOfMemory = (slot.error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const cause = outOfMemory
        ? `ran out of memory (heap limit ${this.options.workerHeapLimitMb} MB)`
        : slot.error
          ? `failed: ${slot.error.message}`
          : `exited with code ${code}`;
      this.#settle(task, new ChartdError('WORKER_CRASHED', `the render worker ${cause} while rendering this chart; other renders are unaffected`));
    }
    if (!wasRetiring) {
      if (slot.state === 'starting') this.#failedStarts++;
      this.#restarts.crash++;
      this.emit('restart', 'crash' satisfies RestartReason, slot.id);
      // A worker that dies while starting would die again at once: back off.
      this.#spawn(slot.slot, this.#failedStarts === 0 ? 0 : Math.min(MAX_RESPAWN_DELAY_MS, 250 * 2 ** this.#failedStarts));
    }
    this.#dispatch();
    this.#checkDrained();
  }

  #onDeadline(task: Task): void {
    if (task.settled) return;
    const waited = Math.round(performance.now() - task.enqueuedAt);
    const slot = task.slot;
    if (!slot) {
      this.#removeQueued(task);
      this.#settle(task, new ChartdError('RENDER_TIMEOUT', `the render waited ${waited} ms in the queue, past its deadline of ${this.options.timeoutMs} ms`));
      return;
    }
    slot.task = undefined;
    this.#settle(task, new ChartdError('RENDER_TIMEOUT', `the render passed its deadline of ${this.options.timeoutMs} ms and its worker was terminated`));
    this.#retire(slot, 'deadline');
  }

  /** A client gone before its render started frees its place; a started render finishes. */
  #onClientAbort(task: Task): void {
    if (task.settled || task.slot) return;
    this.#removeQueued(task);
    this.#settle(task, new ChartdError('ABORTED', 'the client went away before its render started'));
  }

  #removeQueued(task: Task): void {
    const index = this.#queue.indexOf(task);
    if (index !== -1) this.#queue.splice(index, 1);
  }

  #settle(task: Task, outcome: PoolResult | ChartdError): void {
    if (task.settled) return;
    task.settled = true;
    clearTimeout(task.deadline);
    if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
    const now = performance.now();
    const queueWaitMs = (task.startedAt ?? now) - task.enqueuedAt;
    const renderMs = task.startedAt === undefined ? 0 : now - task.startedAt;
    if (outcome instanceof ChartdError) {
      this.emit('task', { job: task.job, queueWaitMs, renderMs, error: outcome } satisfies TaskEvent);
      task.reject(outcome);
    } else {
      this.emit('task', { job: task.job, queueWaitMs, renderMs } satisfies TaskEvent);
      task.resolve(outcome);
    }
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained && !this.#hasWork()) {
      this.#drained();
      this.#drained = undefined;
    }
  }
}

export function createRenderPool(options?: RenderPoolOptions): RenderPool {
  return new RenderPool(options);
}
