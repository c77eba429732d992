import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChartdError } from '../errors.js';
import type { JobSummary, StageTimings } from '../render/answer-chart-request.js';
import { rawRequestBytes, type RawChartRequest } from '../render/chart-request.js';
import type { RenderJob } from '../render/job.js';
import { PendingCaptures } from './captures.js';
import { RESTART_REASONS, type RenderPoolEvents, type RestartReason, type TaskEvent, type WorkerRef } from './pool-events.js';
import { fillRenderPoolOptions, type FilledRenderPoolOptions, type RenderPoolOptions } from './pool-options.js';
import type { ProfileKind, RenderInput, WireAnswer, WorkerToPoolMessage } from './protocol.js';
import { TaskQueue } from './task-queue.js';
import { WorkerProcess, type WorkerExit } from './worker-process.js';
import { WorkerSlot, firstRenderLimit, type SlotState } from './worker-slot.js';

export type { RestartReason, RejectReason, TaskEvent } from './pool-events.js';

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

interface Waits {
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
  /** Resident set size read from the OS (native memory included). */
  residentBytes: number;
  /** CPU time of this process so far. */
  cpuSeconds: number;
  liveCharts: number;
  leakedCharts: number;
  leakedCanvases: number;
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

interface Task {
  id: number;
  input: RenderInput;
  ifNoneMatch: string | undefined;
  errorImage: boolean;
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

const MAX_RESPAWN_DELAY_MS = 30_000;
/** A worker that is not ready this long after its start is killed (and counts as a failed start). */
const STARTUP_TIMEOUT_MS = 60_000;
/** A profile waits for the render its worker is in: it gets the render deadline plus this. */
const PROFILE_MARGIN_MS = 30_000;

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
 *  - a slot's replacement starts only after its predecessor has exited, so there
 *    are never more than `workers` render processes, and a killed worker's memory
 *    is back with the OS before the next one starts.
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
  readonly #captures = new PendingCaptures();
  readonly #restarts = Object.fromEntries(RESTART_REASONS.map((reason) => [reason, 0])) as Record<RestartReason, number>;
  readonly #readyWaiters = new Set<() => void>();
  readonly #usageTimer: NodeJS.Timeout;
  #nextTaskId = 1;
  #nextWorkerId = 1;
  #closing = false;
  #closed: Promise<void> | undefined;
  #ended: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #snapshotDir: string | undefined;

  constructor(options: RenderPoolOptions = {}) {
    super();
    this.options = fillRenderPoolOptions(options);
    const { workers, maxRendersPerWorker } = this.options;
    this.#queue = new TaskQueue(this.options.maxQueue);
    this.#slots = Array.from({ length: workers }, (_, i) => new WorkerSlot<Task>(i, firstRenderLimit(i, workers, maxRendersPerWorker)));
    for (const slot of this.#slots) this.#spawn(slot);
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

  /** True when a new job would be refused: queue full with no idle worker, or closing. */
  get saturated(): boolean {
    return this.#closing || (this.#queue.full && !this.#findIdleSlot());
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Admission control, before anything is read or parsed: the error a new job
   * would get now (SHUTTING_DOWN, QUEUE_FULL), counted as a rejection, or undefined.
   */
  checkAdmission(): ChartdError | undefined {
    if (this.#closing) {
      this.#notify('rejected', 'shutting_down');
      return new ChartdError('SHUTTING_DOWN', 'chartd is shutting down and takes no new renders');
    }
    if (this.#queue.full && !this.#findIdleSlot()) {
      this.#notify('rejected', 'queue_full');
      return new ChartdError(
        'QUEUE_FULL',
        `all ${this.options.workers} render workers are busy and ${this.#queue.length} renders are queued; retry shortly`,
      );
    }
    return undefined;
  }

  /** Renders a job made by createRenderJob. Rejects with a ChartdError: the render's own, or QUEUE_FULL, SHUTTING_DOWN, ABORTED, RENDER_TIMEOUT, RENDER_OUT_OF_MEMORY, WORKER_CRASHED. */
  async run(job: RenderJob, { signal }: { signal?: AbortSignal } = {}): Promise<PoolResult> {
    const outcome = await this.#submit({ job }, { signal });
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
    const workers: WorkerInfo[] = [];
    for (const slot of this.#slots) {
      const worker = slot.worker;
      if (!worker) continue;
      const { stats } = worker;
      workers.push({
        id: worker.id,
        slot: slot.index,
        pid: worker.pid,
        state: slot.state,
        renders: stats.renders,
        ageMs: now - worker.startedAt,
        heapUsedBytes: stats.heapUsedBytes,
        heapTotalBytes: stats.heapTotalBytes,
        externalBytes: stats.externalBytes,
        heapPostGcBytes: stats.heapPostGcBytes,
        residentBytes: worker.residentBytes,
        cpuSeconds: worker.usage?.cpuSeconds ?? 0,
        liveCharts: stats.liveCharts,
        leakedCharts: stats.leakedCharts,
        leakedCanvases: stats.leakedCanvases,
        currentTaskAgeMs: slot.task?.startedAt === undefined ? undefined : now - slot.task.startedAt,
      });
    }
    return {
      workers,
      queueDepth: this.#queue.length,
      maxQueue: this.options.maxQueue,
      inFlight: this.#slots.filter((slot) => slot.task).length,
      restarts: { ...this.#restarts },
      retiredCpuSeconds: this.#slots.map((slot) => slot.retiredCpuSeconds),
      closing: this.#closing,
    };
  }

  /** Sizes only: a config may hold data its owner would not want on a debug page. */
  queuedTasks(): QueuedTaskInfo[] {
    const now = performance.now();
    return this.#queue.values().map((task) => ({
      taskId: task.id,
      ageMs: now - task.enqueuedAt,
      kind: 'job' in task.input ? 'job' : task.input.request.kind,
      requestBytes: 'job' in task.input ? 0 : rawRequestBytes(task.input.request),
    }));
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
  async captureProfile(slotIndex: number, kind: ProfileKind, seconds?: number): Promise<Buffer> {
    const slot = this.#requireReadySlot(slotIndex);
    const worker = slot.worker!;
    const timeoutMs = (kind === 'cpu-profile' ? (seconds ?? 10) * 1000 : 0) + this.options.timeoutMs + PROFILE_MARGIN_MS;
    const { requestId, done } = this.#captures.open(worker.id, timeoutMs);
    if (!worker.send({ type: 'profile', requestId, kind, seconds })) {
      this.#captures.fail(requestId, new ChartdError('CAPTURE_FAILED', `worker ${slotIndex} is exiting; retry in a moment`));
    }
    return toBuffer((await done) ?? new Uint8Array());
  }

  /**
   * Writes a V8 heap snapshot of the worker in a slot to a private file. The
   * slot takes no new job meanwhile (a running one finishes first); a recycle
   * waits for the snapshot; a worker killed during it fails the capture with
   * CAPTURE_FAILED and its partial file is deleted.
   */
  async captureHeapSnapshot(slotIndex: number): Promise<HeapSnapshotFile> {
    const slot = this.#requireReadySlot(slotIndex);
    if (slot.snapshot) throw new ChartdError('CAPTURE_BUSY', `a heap snapshot of worker ${slotIndex} is already being written`);
    const worker = slot.worker!;
    const path = join(this.#ensureSnapshotDir(), `worker-${slotIndex}-${worker.id}-${Date.now()}.heapsnapshot`);
    const { requestId, done } = this.#captures.open(worker.id, this.options.captureTimeoutMs, () => worker.kill('capture-timeout'));
    slot.snapshot = { requestId, path, started: false };
    if (slot.state === 'idle') this.#startSnapshot(slot);
    try {
      await done;
      return { path, sizeBytes: statSync(path).size, remove: () => rm(path, { force: true }) };
    } catch (error) {
      rmSync(path, { force: true });
      throw error;
    } finally {
      if (slot.snapshot?.requestId === requestId) slot.snapshot = undefined;
    }
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
    const slot = this.#slots[slotIndex];
    if (!slot?.worker || slot.state === 'retiring' || slot.state === 'down') return false;
    slot.crashOnExit = true;
    slot.state = 'retiring';
    slot.worker.kill('terminated');
    return true;
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

  #submit(input: RenderInput, options: RequestOptions): Promise<ChartOutcome> {
    const refused = this.checkAdmission();
    if (refused) return Promise.reject(refused);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new ChartdError('ABORTED', 'the request was aborted before its render started'));
    return new Promise<ChartOutcome>((resolve, reject) => {
      const task: Task = {
        id: this.#nextTaskId++,
        input,
        ifNoneMatch: options.ifNoneMatch,
        errorImage: options.errorImage ?? false,
        enqueuedAt: performance.now(),
        startedAt: undefined,
        slot: undefined,
        deadline: setTimeout(() => this.#guard('a deadline', () => this.#onDeadline(task)), this.options.timeoutMs),
        signal,
        onAbort: undefined,
        resolve,
        reject,
        settled: false,
      };
      if (signal) {
        task.onAbort = () => this.#guard('an abort', () => this.#onClientAbort(task));
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.#queue.push(task);
      this.#dispatch();
    });
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
    const exits: Promise<WorkerExit>[] = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.respawnTimer);
      const worker = slot.worker;
      if (!worker) continue;
      if (slot.task) this.#settle(slot.task, error());
      if (kill || slot.task || slot.state !== 'idle') worker.kill('shutdown');
      else worker.requestExit(this.options.exitGraceMs);
      if (slot.state !== 'retiring') slot.state = 'retiring';
      exits.push(worker.whenExited());
    }
    const ended = (async () => {
      await Promise.allSettled(exits);
      clearInterval(this.#usageTimer);
      if (this.#snapshotDir) rmSync(this.#snapshotDir, { recursive: true, force: true });
    })();
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
    if (!slot) throw new ChartdError('NOT_FOUND', `worker ${slotIndex} is not running (starting or being replaced); retry in a moment`);
    return slot;
  }

  /** The idle worker that has waited longest, so work and memory spread over all workers. */
  #findIdleSlot(): WorkerSlot<Task> | undefined {
    let best: WorkerSlot<Task> | undefined;
    for (const slot of this.#slots) {
      if (slot.acceptsJob && (!best || slot.lastDispatchAt < best.lastDispatchAt)) best = slot;
    }
    return best;
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const slot = this.#findIdleSlot();
      if (!slot) return;
      const task = this.#queue.shift()!;
      const worker = slot.worker!;
      const sent = worker.send({ type: 'render', taskId: task.id, input: task.input, ifNoneMatch: task.ifNoneMatch, errorImage: task.errorImage });
      if (!sent) {
        // Its channel closed: the process is on its way out. The job goes back first in line.
        this.#queue.unshift(task);
        slot.crashOnExit = true;
        slot.state = 'retiring';
        worker.kill('terminated');
        continue;
      }
      slot.state = 'busy';
      slot.lastDispatchAt = performance.now();
      slot.task = task;
      task.slot = slot;
      task.startedAt = slot.lastDispatchAt;
    }
  }

  #spawn(slot: WorkerSlot<Task>): void {
    slot.respawnTimer = undefined;
    if (this.#closing) {
      slot.state = 'down';
      return;
    }
    const worker = new WorkerProcess({
      id: this.#nextWorkerId++,
      slot: slot.index,
      heapLimitMb: this.options.workerHeapLimitMb,
      execArgv: this.options.workerExecArgv,
    });
    if (slot.spawned++ > 0) slot.renderLimit = this.options.maxRendersPerWorker;
    slot.worker = worker;
    slot.state = 'starting';
    slot.crashOnExit = false;
    slot.retireAfter = undefined;
    const ref: WorkerRef = { slot: slot.index, workerId: worker.id, pid: worker.pid };
    worker.on('message', (message) => this.#guard('a worker message', () => this.#onMessage(slot, worker, message)));
    worker.on('output', (stream, line) => this.#notify('workerOutput', { ...ref, stream, line }));
    worker.on('exit', (exit) => this.#guard('a worker exit', () => this.#onExit(slot, worker, exit)));
    slot.startTimer = setTimeout(() => {
      if (slot.worker === worker && slot.state === 'starting') worker.kill('terminated');
    }, STARTUP_TIMEOUT_MS);
    slot.startTimer.unref();
    this.#notify('workerStart', ref);
  }

  #onMessage(slot: WorkerSlot<Task>, worker: WorkerProcess, message: WorkerToPoolMessage): void {
    if (slot.worker !== worker) return;
    switch (message.type) {
      case 'ready':
        clearTimeout(slot.startTimer);
        if (slot.state === 'starting') {
          slot.state = 'idle';
          slot.failedStarts = 0;
          this.#notify('workerReady', { slot: slot.index, workerId: worker.id, pid: worker.pid });
          for (const check of [...this.#readyWaiters]) check();
        }
        break;
      case 'capture':
      case 'capture-error': {
        const wasSnapshot = slot.snapshot?.requestId === message.requestId;
        if (wasSnapshot) slot.snapshot = undefined;
        if (message.type === 'capture') this.#captures.succeed(message.requestId, message.body);
        else this.#captures.fail(message.requestId, ChartdError.fromSerialized(message.error));
        this.#afterWork(slot, wasSnapshot ? 'snapshot' : 'profile');
        break;
      }
      case 'answer': {
        const task = slot.task;
        // A late answer to a job already settled (its deadline fired as the answer came) is dropped.
        if (!task || task.id !== message.taskId) return;
        slot.task = undefined;
        this.#settle(task, this.#toOutcome(task, worker, message.answer));
        this.#afterWork(slot, 'task');
        break;
      }
    }
    this.#dispatch();
  }

  #toOutcome(task: Task, worker: WorkerProcess, answer: WireAnswer): ChartOutcome {
    const now = performance.now();
    const waits: Waits = { queueWaitMs: task.startedAt! - task.enqueuedAt, renderMs: now - task.startedAt! };
    switch (answer.type) {
      case 'rendered':
        return { ...waits, ...answer, body: toBuffer(answer.body), workerId: worker.id };
      case 'not-modified':
        return { ...waits, ...answer };
      case 'refused':
        return { ...waits, ...answer, error: ChartdError.fromSerialized(answer.error), image: answer.image && toBuffer(answer.image) };
    }
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
    if (slot.state === 'idle' && slot.snapshot && !slot.snapshot.started) this.#startSnapshot(slot);
  }

  #retireWhenQuiet(slot: WorkerSlot<Task>, reason: RestartReason): void {
    const worker = slot.worker!;
    const quiet = (slot.state === 'idle' || slot.state === 'starting') && !slot.snapshot && this.#captures.countFor(worker.id) === 0;
    if (quiet) this.#retire(slot, reason);
    else slot.retireAfter ??= reason;
  }

  /** Counts the restart and ends the worker: asked to exit, or killed when its work must stop now. */
  #retire(slot: WorkerSlot<Task>, reason: RestartReason, kill?: 'deadline' | 'memory'): void {
    const worker = slot.worker!;
    slot.state = 'retiring';
    this.#restarts[reason]++;
    this.#notify('restart', reason, { slot: slot.index, workerId: worker.id, pid: worker.pid });
    if (kill) worker.kill(kill);
    else worker.requestExit(this.options.exitGraceMs);
  }

  #startSnapshot(slot: WorkerSlot<Task>): void {
    const snapshot = slot.snapshot!;
    snapshot.started = true;
    slot.state = 'capturing';
    if (!slot.worker!.send({ type: 'heap-snapshot', requestId: snapshot.requestId, path: snapshot.path })) {
      this.#captures.fail(snapshot.requestId, new ChartdError('CAPTURE_FAILED', `worker ${slot.index} is exiting; retry in a moment`));
    }
  }

  #onExit(slot: WorkerSlot<Task>, worker: WorkerProcess, exit: WorkerExit): void {
    if (slot.worker !== worker) return;
    clearTimeout(slot.startTimer);
    slot.worker = undefined;
    slot.retiredCpuSeconds += exit.usage?.cpuSeconds ?? 0;
    const cause = describeExit(exit, this.options.workerHeapLimitMb);
    this.#captures.failWorker(worker.id, () => new ChartdError('CAPTURE_FAILED', `worker ${slot.index} ${cause} before the capture finished; retry`));
    slot.snapshot = undefined;
    const task = slot.task;
    slot.task = undefined;
    if (task) this.#settle(task, taskErrorFromExit(exit, cause));
    const expected = slot.state === 'retiring' && !slot.crashOnExit;
    if (!expected) {
      if (slot.state === 'starting') slot.failedStarts++;
      this.#restarts.crash++;
      this.#notify('restart', 'crash', { slot: slot.index, workerId: worker.id, pid: worker.pid });
    }
    this.#notify('workerExit', {
      slot: slot.index,
      workerId: worker.id,
      pid: worker.pid,
      code: exit.code,
      signal: exit.signal,
      expected,
      cause,
      stats: exit.stats,
      usage: exit.usage,
      stderrTail: expected ? undefined : exit.stderrTail,
    });
    slot.state = 'down';
    if (!this.#closing) {
      // A worker that dies while starting would die again at once: back off.
      const delayMs = slot.failedStarts === 0 ? 0 : Math.min(MAX_RESPAWN_DELAY_MS, 250 * 2 ** slot.failedStarts);
      if (delayMs === 0) this.#spawn(slot);
      else {
        slot.respawnTimer = setTimeout(() => this.#guard('a respawn', () => this.#spawn(slot)), delayMs);
        slot.respawnTimer.unref();
      }
    }
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
      if (slot.state === 'busy' && usage.rssBytes > this.options.workerMemoryLimitBytes) {
        const task = slot.task!;
        this.#settle(
          task,
          new ChartdError(
            'RENDER_OUT_OF_MEMORY',
            `the render grew its worker to ${mib(usage.rssBytes)} MiB resident, over the limit of ${mib(this.options.workerMemoryLimitBytes)} MiB; ` +
              'ask for fewer points, a smaller size or a lower devicePixelRatio',
          ),
        );
        slot.task = undefined;
        this.#retire(slot, 'memory', 'memory');
      } else if (slot.state === 'idle' && usage.rssBytes > this.options.workerMemoryBudgetBytes) {
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
    if (task.settled) return;
    task.settled = true;
    clearTimeout(task.deadline);
    if (task.onAbort) task.signal?.removeEventListener('abort', task.onAbort);
    const now = performance.now();
    const queueWaitMs = (task.startedAt ?? now) - task.enqueuedAt;
    const renderMs = task.startedAt === undefined ? 0 : now - task.startedAt;
    const event: TaskEvent =
      outcome instanceof ChartdError
        ? { job: undefined, outcome: 'failed', queueWaitMs, renderMs, timings: undefined, error: outcome }
        : {
            job: outcome.job,
            outcome: outcome.type,
            queueWaitMs,
            renderMs,
            timings: outcome.timings,
            error: outcome.type === 'refused' ? outcome.error : undefined,
          };
    this.#notify('task', event);
    if (outcome instanceof ChartdError) task.reject(outcome);
    else task.resolve(outcome);
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#drained && !this.#hasWork()) {
      this.#drained();
      this.#drained = undefined;
    }
  }

  #ensureSnapshotDir(): string {
    // mkdtemp makes the directory 0700: a snapshot holds every secret the worker had.
    this.#snapshotDir ??= mkdtempSync(join(tmpdir(), 'chartd-heap-'));
    return this.#snapshotDir;
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

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

/** "was killed past its deadline", "ran out of heap (limit 512 MiB)", "was killed by SIGSEGV", "exited with code 3". */
function describeExit(exit: WorkerExit, heapLimitMb: number): string {
  switch (exit.killedFor) {
    case 'deadline':
      return 'was killed past its render deadline';
    case 'memory':
      return 'was killed over its memory limit';
    case 'terminated':
      return 'was terminated';
    case 'exit-grace':
      return 'was killed when it did not exit in time';
    case 'capture-timeout':
      return 'was killed when a capture took too long';
    case 'shutdown':
      return 'was stopped at shutdown';
    case undefined:
      break;
  }
  if (exit.outOfHeap) return `ran out of heap (limit ${heapLimitMb} MiB)`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  if (exit.code === null) return 'could not be started';
  return `exited with code ${exit.code}`;
}

/** The error of a job whose worker exited under it: its own fault when it ran out of memory, else a crash. */
function taskErrorFromExit(exit: WorkerExit, cause: string): ChartdError {
  if (exit.outOfHeap && exit.killedFor === undefined) {
    return new ChartdError(
      'RENDER_OUT_OF_MEMORY',
      `the render needed more than the worker's heap (${cause}); ask for fewer points, ticks or labels, or a smaller chart`,
    );
  }
  return new ChartdError('WORKER_CRASHED', `the render worker ${cause} while rendering this chart; other renders are unaffected`);
}
