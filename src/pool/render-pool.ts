import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ChartdError } from '../errors.js';
import type { RawChartRequest } from '../render/chart-request.js';
import type { RenderJob } from '../render/job.js';
import { WorkerCaptures } from './captures.js';
import { RESTART_REASONS, type RenderPoolEvents, type RestartReason, type WorkerRef } from './pool-events.js';
import { fillRenderPoolOptions, type FilledRenderPoolOptions, type RenderPoolOptions } from './pool-options.js';
import type { ChartOutcome, HeapSnapshotFile, PoolResult, PoolStats, QueuedTaskInfo, RequestOptions } from './pool-types.js';
import { describeQueuedTask, describeWorker } from './pool-stats.js';
import { memoryVerdict, renderOutOfMemory } from './memory-policy.js';
import type { ProfileKind, RenderInput, WorkerToPoolMessage } from './protocol.js';
import { createTask, settleTask, toOutcome, type Task } from './task.js';
import { QueueWait } from './queue-wait.js';
import { TaskQueue } from './task-queue.js';
import { describeExit, taskErrorFromExit } from './worker-exit.js';
import type { WorkerProcess } from './worker-process.js';
import { WorkerSlot, type SlotExit } from './worker-slot.js';

export type { RestartReason, RejectReason, TaskEvent } from './pool-events.js';
export type { ChartOutcome, HeapSnapshotFile, PoolResult, PoolStats, QueuedTaskInfo, RequestOptions, WorkerInfo } from './pool-types.js';

/**
 * A bounded pool of render worker processes. Each worker renders one job at a
 * time; the queue in front of them is bounded (QUEUE_FULL past it). The OS
 * enforces what a thread could not:
 *  - a job past its deadline gets RENDER_TIMEOUT and its process SIGKILL, so the
 *    work stops whatever native call it is in;
 *  - each worker's resident memory is read from /proc: past the budget it is
 *    recycled between jobs, past the limit mid-render it is killed and only its
 *    job fails (RENDER_OUT_OF_MEMORY);
 *  - a worker that dies (heap limit, segfault, exit) fails only its job and is
 *    replaced, with backoff when it dies while starting;
 *  - a slot's replacement starts only after its predecessor has exited
 *    (worker-slot.ts), so there are never more than `workers` render processes.
 * Requests cross as raw bytes and are parsed in the workers (runRequest).
 *
 * @example
 * ```ts
 * await using pool = createRenderPool({ workers: 2 });
 * const { body } = await pool.run(createRenderJob({ chart: config }));
 * ```
 */
export class RenderPool extends EventEmitter<RenderPoolEvents> {
  readonly options: FilledRenderPoolOptions;
  readonly #slots: WorkerSlot<Task>[];
  readonly #queue: TaskQueue<Task>;
  readonly #queueWait = new QueueWait();
  readonly #captures: WorkerCaptures;
  readonly #restarts = Object.fromEntries(RESTART_REASONS.map((reason) => [reason, 0])) as Record<RestartReason, number>;
  readonly #readyWaiters = new Set<() => void>();
  readonly #usageTimer: NodeJS.Timeout;
  #nextTaskId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;
  #ended: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(options: RenderPoolOptions = {}) {
    super();
    this.options = fillRenderPoolOptions(options);
    const { workers, maxRendersPerWorker, workerHeapLimitMb, workerExecArgv, exitGraceMs, renderLimits, warmUp, settleEveryMs } = this.options;
    this.#queue = new TaskQueue(this.options.maxQueue, (task) => task.tag);
    this.#captures = new WorkerCaptures({ renderTimeoutMs: this.options.timeoutMs, snapshotTimeoutMs: this.options.captureTimeoutMs });
    const slotOptions = { slots: workers, heapLimitMb: workerHeapLimitMb, execArgv: workerExecArgv, exitGraceMs, maxRendersPerWorker, renderLimits, warmUp, settleEveryMs };
    this.#slots = Array.from({ length: workers }, (_, i) => this.#watchSlot(new WorkerSlot<Task>(i, slotOptions)));
    for (const slot of this.#slots) slot.start();
    this.#usageTimer = setInterval(() => this.#guard('the usage sampler', () => this.#sampleUsage()), this.options.usageSampleIntervalMs);
    this.#usageTimer.unref();
  }

  /**
   * Resolves true once every slot has a ready worker, or false after `timeoutMs`
   * (a worker that dies while starting is retried with backoff; the caller
   * decides whether to go on). Readiness is live: see readyWorkers.
   */
  ready(timeoutMs = 30_000): Promise<boolean> {
    if (this.#allReady()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!this.#allReady()) return;
        clearTimeout(timer);
        this.#readyWaiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#readyWaiters.delete(check);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.#readyWaiters.add(check);
    });
  }

  /** Workers that have reported ready and take (or are doing) work now. */
  get readyWorkers(): number {
    return this.#slots.filter((slot) => slot.ready).length;
  }

  /** True when a new job would be refused: queue full (or its expected wait too long) with no idle worker, or closing. */
  get saturated(): boolean {
    return this.#closing || (this.#queueFull() !== undefined && !this.#findIdleSlot());
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Admission control, before anything is read or parsed: the error a new job of
   * client `tag` would get now (SHUTTING_DOWN, QUEUE_FULL), counted as a rejection,
   * or undefined. A full queue still admits a client that holds two places fewer
   * than the one holding the most: that one's newest job makes room (TaskQueue).
   */
  checkAdmission(tag?: string): ChartdError | undefined {
    return this.#admission(tag).refused;
  }

  /** The refusal a new job of `tag` gets now (counted), or the queued job that must make room for it, or neither. */
  #admission(tag: string | undefined): { refused?: ChartdError; displaced?: Task } {
    if (this.#closing) {
      this.#notify('rejected', 'shutting_down');
      return { refused: new ChartdError('SHUTTING_DOWN', 'chartd is shutting down and takes no new renders') };
    }
    const full = this.#queueFull();
    if (!full || this.#findIdleSlot()) return {};
    const displaced = this.#queue.displaceableFor(tag);
    if (displaced) return { displaced };
    this.#notify('rejected', 'queue_full');
    return { refused: new ChartdError('QUEUE_FULL', `all ${this.options.workers} render workers are busy and ${full}; retry shortly`) };
  }

  /** Why the queue takes no more (as a phrase), or undefined when it does. */
  #queueFull(): string | undefined {
    const queued = this.#queue.length;
    if (this.#queue.full) return `${queued} renders are queued`;
    const { maxQueueWaitMs, workers } = this.options;
    if (maxQueueWaitMs > 0 && queued > 0) {
      const waitMs = this.#queueWait.expectedMs(queued, workers, this.#oldestRunningMs());
      if (waitMs > maxQueueWaitMs) return `the ${queued} renders queued would keep a new one waiting ~${Math.round(waitMs)} ms (over ${maxQueueWaitMs} ms)`;
    }
    return undefined;
  }

  /** Renders a job made by createRenderJob. Rejects with a ChartdError: the render's own, or QUEUE_FULL, SHUTTING_DOWN, ABORTED, RENDER_TIMEOUT, RENDER_OUT_OF_MEMORY, WORKER_CRASHED. */
  async run(job: RenderJob, { signal }: { signal?: AbortSignal } = {}): Promise<PoolResult> {
    // A sandbox cannot cross to a worker: the worker evaluates the job's config text again.
    const { script, ...plain } = job;
    script?.[Symbol.dispose]();
    const outcome = await this.#submit({ job: plain }, { signal });
    if (outcome.type === 'refused') throw outcome.error;
    if (outcome.type !== 'rendered') throw new ChartdError('INTERNAL', `unexpected ${outcome.type} answer to a render job`);
    const { body, contentType, queueWaitMs, renderMs, timings, workerId } = outcome;
    return { body, contentType, queueWaitMs, renderMs, drawMs: timings.drawMs, encodeMs: timings.encodeMs, workerId };
  }

  /**
   * Answers a raw chart request: a worker parses, validates, renders (or answers
   * not-modified, or refuses with a coded error). Rejects only for the pool's own
   * failures: QUEUE_FULL, SHUTTING_DOWN, ABORTED, RENDER_TIMEOUT, RENDER_OUT_OF_MEMORY, WORKER_CRASHED.
   */
  runRequest(request: RawChartRequest, options: RequestOptions = {}): Promise<ChartOutcome> {
    return this.#submit({ request }, options);
  }

  stats(): PoolStats {
    const now = performance.now();
    return {
      workers: this.#slots.flatMap((slot) => describeWorker(slot, now) ?? []),
      queueDepth: this.#queue.length,
      maxQueue: this.options.maxQueue,
      inFlight: this.#slots.filter((slot) => slot.task).length,
      restarts: { ...this.#restarts },
      retiredCpuSeconds: this.#slots.map((slot) => slot.retiredCpuSeconds),
      closing: this.#closing,
    };
  }

  /** Kinds and sizes only: a config may hold data its owner would not want on a debug page. */
  queuedTasks(): QueuedTaskInfo[] {
    const now = performance.now();
    return this.#queue.values().map((task) => describeQueuedTask(task, now));
  }

  /** True when slot N has a ready worker (profiles and snapshots need one). */
  hasReadyWorker(slotIndex: number): boolean {
    return this.#readySlot(slotIndex) !== undefined;
  }

  /**
   * A pprof profile taken inside the worker process in a slot. Its event loop
   * answers between render steps, so a profile may wait for a running render.
   * Fails with CAPTURE_FAILED when the worker exits first.
   */
  captureProfile(slotIndex: number, kind: ProfileKind, seconds?: number): Promise<Buffer> {
    return this.#captures.profile(this.#requireReadySlot(slotIndex), kind, seconds);
  }

  /**
   * Writes a V8 heap snapshot of the worker in a slot to a private file. The
   * slot takes no new job meanwhile (a running one finishes first); a recycle
   * waits for the snapshot; a worker killed during it fails the capture with
   * CAPTURE_FAILED and its partial file is deleted.
   */
  captureHeapSnapshot(slotIndex: number): Promise<HeapSnapshotFile> {
    return this.#captures.heapSnapshot(this.#requireReadySlot(slotIndex));
  }

  /**
   * Replaces the worker in a slot: at once when idle, else once its current
   * render and any capture are done. For operators and the leak detector.
   */
  recycleWorker(slotIndex: number, reason: RestartReason = 'recycled'): boolean {
    const slot = this.#slots[slotIndex];
    if (!slot?.worker || slot.state === 'retiring' || slot.state === 'down') return false;
    this.#retireWhenQuiet(slot, reason);
    return true;
  }

  /** Kills the worker in a slot now (SIGKILL), as a crash would: its running render fails with WORKER_CRASHED. For operators and chaos tests. */
  terminateWorker(slotIndex: number): boolean {
    return this.#slots[slotIndex]?.terminate() ?? false;
  }

  /**
   * Stops taking jobs, lets queued and running ones finish (bounded by
   * drainTimeoutMs; what is left then fails with SHUTTING_DOWN), then asks the
   * workers to exit (SIGKILL after exitGraceMs) and waits until they have. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Kills every worker now; queued and running jobs fail with SHUTTING_DOWN. Idempotent. */
  destroy(): Promise<void> {
    this.#closing = true;
    return this.#endWorkers(true);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Wires a slot's events to the pool: readiness, answers, captures, exits, output. */
  #watchSlot(slot: WorkerSlot<Task>): WorkerSlot<Task> {
    const ref = (worker: WorkerProcess): WorkerRef => ({ slot: slot.index, workerId: worker.id, pid: worker.pid });
    slot.on('start', (worker) => this.#notify('workerStart', ref(worker)));
    slot.on('ready', (worker) => {
      this.#notify('workerReady', ref(worker));
      for (const check of [...this.#readyWaiters]) check();
      this.#dispatch();
    });
    slot.on('message', (worker, message) => this.#onMessage(slot, worker, message));
    slot.on('output', (worker, stream, line) => this.#notify('workerOutput', { ...ref(worker), stream, line }));
    slot.on('exit', (event) => this.#onExit(slot, event));
    slot.on('fault', (where, error) => this.#fault(where, error));
    return slot;
  }

  #submit(input: RenderInput, options: RequestOptions): Promise<ChartOutcome> {
    const { refused, displaced } = this.#admission(options.tag);
    if (refused) return Promise.reject(refused);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new ChartdError('ABORTED', 'the request was aborted before its render started'));
    if (displaced) this.#displace(displaced);
    const { task, settled } = createTask(this.#nextTaskId++, input, options, {
      timeoutMs: this.options.timeoutMs,
      onDeadline: (task) => this.#guard('a deadline', () => this.#onDeadline(task)),
      onAbort: (task) => this.#guard('an abort', () => this.#onClientAbort(task)),
    });
    this.#queue.push(task);
    this.#dispatch();
    return settled;
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
    await this.#endWorkers(false);
  }

  /** Fails what is left, ends every worker (asked, or killed), and waits for every process to exit. */
  #endWorkers(kill: boolean): Promise<void> {
    const error = () => new ChartdError('SHUTTING_DOWN', 'chartd shut down before this render finished');
    for (const task of this.#queue.drain()) this.#settle(task, error());
    for (const slot of this.#slots) if (slot.task) this.#settle(slot.task, error());
    const stopped = Promise.allSettled(this.#slots.map((slot) => slot.stop(kill)));
    const ended = stopped.then(() => {
      clearInterval(this.#usageTimer);
      this.#captures.removeFiles();
    });
    this.#ended = this.#ended ? this.#ended.then(() => ended) : ended;
    return this.#ended;
  }

  #hasWork(): boolean {
    return this.#queue.length > 0 || this.#slots.some((slot) => slot.task);
  }

  #allReady(): boolean {
    return this.#slots.every((slot) => slot.ready);
  }

  #readySlot(slotIndex: number): WorkerSlot<Task> | undefined {
    const slot = Number.isInteger(slotIndex) ? this.#slots[slotIndex] : undefined;
    return slot?.ready && slot.worker && !slot.worker.gone ? slot : undefined;
  }

  #requireReadySlot(slotIndex: number): WorkerSlot<Task> {
    const slot = this.#readySlot(slotIndex);
    if (slot) return slot;
    // A slot between processes is a moment's wait, not a missing resource: 503 with Retry-After.
    if (Number.isInteger(slotIndex) && this.#slots[slotIndex]) {
      throw new ChartdError('CAPTURE_FAILED', `worker ${slotIndex} is not running (starting or being replaced); retry in a moment`);
    }
    throw new ChartdError('NOT_FOUND', `there is no worker ${slotIndex}`);
  }

  /** The idle worker that has waited longest, so work and memory spread over all workers. */
  #findIdleSlot(): WorkerSlot<Task> | undefined {
    let best: WorkerSlot<Task> | undefined;
    for (const slot of this.#slots) {
      if (slot.acceptsJob && (!best || slot.lastDispatchAt < best.lastDispatchAt)) best = slot;
    }
    return best;
  }

  /** Refuses a queued job to make room for another client's (TaskQueue.displaceableFor chose it). */
  #displace(victim: Task): void {
    const held = this.#queue.countOf(victim.tag);
    this.#queue.remove(victim);
    this.#notify('rejected', 'queue_full');
    this.#settle(
      victim,
      new ChartdError('QUEUE_FULL', `the queue is full and this client held ${held} of its ${this.#queue.length + 1} places: its newest render made room for another client's; retry shortly`),
    );
  }

  /** How long the longest-running render has been running, ms (0 when none runs). */
  #oldestRunningMs(): number {
    const now = performance.now();
    let oldest = 0;
    for (const slot of this.#slots) if (slot.task?.startedAt !== undefined) oldest = Math.max(oldest, now - slot.task.startedAt);
    return oldest;
  }

  /** Renders running for client `tag` (untagged jobs count as one client). */
  #runningOf(tag: string | undefined): number {
    let running = 0;
    for (const slot of this.#slots) if (slot.task && slot.task.tag === tag) running++;
    return running;
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#findIdleSlot();
      if (!slot) return;
      const task = this.#queue.takeNext((tag) => this.#runningOf(tag))!;
      const sent = slot.worker!.send({ type: 'render', taskId: task.id, input: task.input, ifNoneMatch: task.ifNoneMatch, errorImage: task.errorImage });
      if (!sent) {
        // Its channel closed: the process is on its way out. The job goes back first in line.
        this.#queue.unshift(task);
        slot.abandon();
        continue;
      }
      slot.state = 'busy';
      slot.lastDispatchAt = performance.now();
      slot.task = task;
      task.slot = slot;
      task.startedAt = slot.lastDispatchAt;
    }
  }

  #onMessage(slot: WorkerSlot<Task>, worker: WorkerProcess, message: WorkerToPoolMessage): void {
    switch (message.type) {
      case 'capture':
      case 'capture-error':
        this.#afterWork(slot, this.#captures.onReply(slot, message) ? 'snapshot' : 'profile');
        break;
      case 'answer': {
        const task = slot.task;
        // A late answer to a job already settled (its deadline fired as the answer came) is dropped.
        if (!task || task.id !== message.taskId) return;
        slot.task = undefined;
        this.#settle(task, toOutcome(task, worker.id, message.answer));
        this.#afterWork(slot, 'task');
        break;
      }
      case 'ready':
      case 'stats':
        break;
    }
    this.#dispatch();
  }

  /** A job or capture has ended on a slot: it becomes idle, unless it is due for a recycle. */
  #afterWork(slot: WorkerSlot<Task>, finished: 'task' | 'snapshot' | 'profile'): void {
    const worker = slot.worker;
    if (!worker) return;
    if ((finished === 'task' && slot.state === 'busy') || (finished === 'snapshot' && slot.state === 'capturing')) slot.state = 'idle';
    if (slot.state !== 'idle') return;
    const reason =
      slot.retireAfter ??
      (worker.stats.renders >= slot.renderLimit ? 'recycled' : worker.stats.rssBytes > this.options.workerMemoryBudgetBytes ? 'memory' : undefined);
    if (reason) this.#retireWhenQuiet(slot, reason);
    if (slot.state === 'idle' && slot.snapshot && !slot.snapshot.started) this.#captures.startSnapshot(slot);
  }

  #retireWhenQuiet(slot: WorkerSlot<Task>, reason: RestartReason): void {
    const quiet = (slot.state === 'idle' || slot.state === 'starting') && !slot.snapshot && this.#captures.countFor(slot.worker!.id) === 0;
    if (quiet) this.#retire(slot, reason);
    else slot.retireAfter ??= reason;
  }

  /** Counts the restart and ends the worker: asked to exit, or killed when its work must stop now. */
  #retire(slot: WorkerSlot<Task>, reason: RestartReason, kill?: 'deadline' | 'memory'): void {
    const worker = slot.worker!;
    this.#restarts[reason]++;
    this.#notify('restart', reason, { slot: slot.index, workerId: worker.id, pid: worker.pid });
    slot.retire(kill);
  }

  #onExit(slot: WorkerSlot<Task>, { worker, exit, expected, task }: SlotExit<Task>): void {
    const cause = describeExit(exit, this.options.workerHeapLimitMb);
    this.#captures.failWorker(worker.id, () => new ChartdError('CAPTURE_FAILED', `worker ${slot.index} ${cause} before the capture finished; retry`));
    if (task) this.#settle(task, taskErrorFromExit(exit, cause));
    const ref: WorkerRef = { slot: slot.index, workerId: worker.id, pid: worker.pid };
    if (!expected) {
      this.#restarts.crash++;
      this.#notify('restart', 'crash', ref);
    }
    this.#notify('workerExit', {
      ...ref,
      code: exit.code,
      signal: exit.signal,
      expected,
      cause,
      stats: exit.stats,
      usage: exit.usage,
      stderrTail: expected ? undefined : exit.stderrTail,
    });
    this.#dispatch();
    this.#checkDrained();
  }

  /** Reads every worker's RSS and CPU from the OS; enforces the memory budget (between jobs) and the limit (mid-render). */
  #sampleUsage(): void {
    for (const slot of this.#slots) {
      const worker = slot.worker;
      if (!worker || slot.state === 'retiring') continue;
      const usage = worker.sampleUsage();
      if (!usage) continue;
      const verdict = memoryVerdict(slot.state, usage.rssBytes, this.options);
      if (verdict === 'kill') {
        const task = slot.task!;
        slot.task = undefined;
        this.#settle(task, renderOutOfMemory(usage.rssBytes, this.options.workerMemoryLimitBytes));
        this.#retire(slot, 'memory', 'memory');
      } else if (verdict === 'recycle') {
        this.#retireWhenQuiet(slot, 'memory');
      }
    }
  }

  #onDeadline(task: Task): void {
    if (task.settled) return;
    const slot = task.slot;
    if (!slot) {
      this.#queue.remove(task);
      const waited = Math.round(performance.now() - task.enqueuedAt);
      this.#settle(task, new ChartdError('RENDER_TIMEOUT', `the render waited ${waited} ms in the queue, past its deadline of ${this.options.timeoutMs} ms`));
      return;
    }
    slot.task = undefined;
    this.#settle(task, new ChartdError('RENDER_TIMEOUT', `the render passed its deadline of ${this.options.timeoutMs} ms and its worker was stopped`));
    this.#retire(slot, 'deadline', 'deadline');
  }

  /** A client gone before its render started frees its place; a started render finishes. */
  #onClientAbort(task: Task): void {
    if (task.settled || task.slot) return;
    this.#queue.remove(task);
    this.#settle(task, new ChartdError('ABORTED', 'the client went away before its render started'));
  }

  #settle(task: Task, outcome: ChartOutcome | ChartdError): void {
    const event = settleTask(task, outcome);
    if (!event) return;
    if (task.startedAt !== undefined) this.#queueWait.observe(event.renderMs);
    this.#notify('task', event);
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained && !this.#hasWork()) {
      this.#drained();
      this.#drained = undefined;
    }
  }

  /** Emits an event; a listener that throws is reported as a fault instead of unwinding into the pool. */
  #notify<K extends keyof RenderPoolEvents>(event: K, ...args: RenderPoolEvents[K]): void {
    try {
      (this.emit as (name: K, ...values: RenderPoolEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      if (event !== 'fault') this.#fault(`a '${String(event)}' listener`, error);
    }
  }

  /** Runs a timer or callback body: an exception is reported, never thrown into Node's event loop. */
  #guard(where: string, body: () => void): void {
    try {
      body();
    } catch (error) {
      this.#fault(where, error);
    }
  }

  #fault(where: string, error: unknown): void {
    if (this.listenerCount('fault') > 0) this.#notify('fault', where, error);
    else process.emitWarning(`chartd render pool: ${where} failed: ${(error as Error)?.stack ?? String(error)}`, { code: 'CHARTD_POOL_FAULT' });
  }
}

export function createRenderPool(options?: RenderPoolOptions): RenderPool {
  return new RenderPool(options);
}
