import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { emptyNativeCounts } from '../render/native-kinds.js';
import { emptyGcTotals } from '../diagnostics/gc-watch.js';
import { readProcessUsage, type ProcessUsage } from './process-usage.js';
import { RENDER_LIMITS_ENV, SETTLE_EVERY_ENV, WARM_UP_ENV, type PoolToWorkerMessage, type WorkerStats, type WorkerToPoolMessage } from './protocol.js';
import type { WarmUp } from '../diagnostics/warm-up.js';

/** Why the pool ended a worker itself. */
export type KillReason = 'deadline' | 'memory' | 'terminated' | 'exit-grace' | 'capture-timeout' | 'shutdown';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the pool killed it; undefined for a worker that died (or exited when asked). */
  killedFor: KillReason | undefined;
  /** V8 reported that the worker's heap reached its limit. */
  outOfHeap: boolean;
  /** The last lines the worker wrote to stderr: a fatal error's report. */
  stderrTail: string;
  stats: WorkerStats;
  usage: ProcessUsage | undefined;
}

interface WorkerProcessEvents {
  message: [WorkerToPoolMessage];
  output: [stream: 'stdout' | 'stderr', line: string];
  exit: [WorkerExit];
}

export interface WorkerProcessOptions {
  id: number;
  slot: number;
  heapLimitMb: number;
  execArgv: readonly string[];
  /** Render limits the worker applies over its defaults (plain data, passed in its environment). */
  renderLimits: object;
  /** When its warm-up is over (passed in its environment). */
  warmUp: WarmUp;
  settleEveryMs: number;
}

const WORKER_MAIN = new URL('./worker-main.js', import.meta.url);
/**
 * Loaded with --require, before any --import preload (instrumentation, a plugin) and the
 * worker's own modules: it counts every @napi-rs/canvas object the process makes.
 */
const NATIVE_CENSUS = fileURLToPath(new URL('../render/native-census.cjs', import.meta.url));
const STDERR_TAIL_BYTES = 16 * 1024;
const MAX_OUTPUT_LINE = 2_000; // characters logged of one line
const MAX_LOGGED_LINES = 200; // per process: a worker printing in a loop must not flood the logs
/** After 'exit', how long to wait for the last of stderr (V8's fatal report) before reporting. */
const STDIO_SETTLE_MS = 500;
const OUT_OF_HEAP = /Reached heap limit|JavaScript heap out of memory|Fatal process out of memory|FatalProcessOutOfMemory/;

export const EMPTY_WORKER_STATS: Readonly<WorkerStats> = Object.freeze({
  renders: 0,
  heapUsedBytes: 0,
  heapTotalBytes: 0,
  externalBytes: 0,
  arrayBuffersBytes: 0,
  rssBytes: 0,
  heapPostGcBytes: undefined,
  settledHeapBytes: undefined,
  settledCodeBytes: undefined,
  settledExternalBytes: undefined,
  liveCharts: 0,
  liveSandboxes: 0,
  leakedCharts: 0,
  leakedCanvases: 0,
  native: emptyNativeCounts(),
  gc: emptyGcTotals(),
});

/**
 * One render worker process: started with its own V8 heap limit, spoken to over
 * the IPC channel, measured through /proc, and ended by SIGKILL when the pool
 * says so, whatever native call it is in. Emits 'exit' exactly once, after the
 * process has really gone (so its slot can be reused without ever running more
 * processes than slots).
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  readonly id: number;
  readonly slot: number;
  readonly pid: number | undefined;
  readonly startedAt = performance.now();
  /** The worker's own report, updated with every message. */
  stats: WorkerStats = EMPTY_WORKER_STATS;
  /** The OS's view, updated by sampleUsage(). */
  usage: ProcessUsage | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<WorkerExit>;
  #killedFor: KillReason | undefined;
  #gone = false;
  #graceTimer: NodeJS.Timeout | undefined;
  #stderrTail = '';
  #loggedLines = 0;

  constructor(options: WorkerProcessOptions) {
    super();
    this.id = options.id;
    this.slot = options.slot;
    this.#child = fork(WORKER_MAIN, [], {
      // Our flags only: the parent's (--inspect, --test, ...) are not the workers' business.
      execArgv: [`--max-old-space-size=${options.heapLimitMb}`, ...WORKER_V8_FLAGS, '--require', NATIVE_CENSUS, ...options.execArgv],
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: workerEnvironment(options),
    });
    this.pid = this.#child.pid;
    this.#child.on('message', (message: WorkerToPoolMessage) => {
      if (message && typeof message === 'object' && 'stats' in message) this.stats = message.stats;
      this.emit('message', message);
    });
    // A failed spawn or send: the 'exit' that follows (or the missing pid) says the rest.
    this.#child.on('error', (error) => this.#appendStderr(`[chartd] worker process error: ${error.message}\n`));
    this.#watchOutput(this.#child.stdout, 'stdout');
    this.#watchOutput(this.#child.stderr, 'stderr');
    this.#exited = new Promise((resolve) => {
      const report = (code: number | null, signal: NodeJS.Signals | null) => {
        this.#gone = true;
        clearTimeout(this.#graceTimer);
        resolve({
          code,
          signal,
          killedFor: this.#killedFor,
          outOfHeap: OUT_OF_HEAP.test(this.#stderrTail),
          stderrTail: this.#stderrTail,
          stats: this.stats,
          usage: this.usage,
        });
      };
      if (this.pid === undefined) {
        // fork() failed at once (e.g. EAGAIN, EMFILE): there is no process to wait for.
        setImmediate(() => report(null, null));
        return;
      }
      this.#child.once('exit', (code, signal) => {
        const settle = setTimeout(() => report(code, signal), STDIO_SETTLE_MS);
        this.#child.once('close', () => {
          clearTimeout(settle);
          report(code, signal);
        });
      });
    });
    void this.#exited.then((exit) => this.emit('exit', exit));
  }

  /** True once the process has exited (its memory is back with the OS). */
  get gone(): boolean {
    return this.#gone;
  }

  get killedFor(): KillReason | undefined {
    return this.#killedFor;
  }

  whenExited(): Promise<WorkerExit> {
    return this.#exited;
  }

  /** Sends a message; false when the channel is closed (the process is exiting: its 'exit' follows). */
  send(message: PoolToWorkerMessage): boolean {
    if (this.#gone || !this.#child.connected) return false;
    try {
      this.#child.send(message, (error) => {
        if (error) this.#appendStderr(`[chartd] could not send to worker: ${error.message}\n`);
      });
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL now: the one signal a process stuck in a native call cannot defer. The first reason given is kept. */
  kill(reason: KillReason): void {
    if (this.#gone) return;
    this.#killedFor ??= reason;
    this.#child.kill('SIGKILL');
  }

  /** Asks the worker to exit, and kills it if it has not within `graceMs`. */
  requestExit(graceMs: number): void {
    if (this.#gone || this.#graceTimer) return;
    if (!this.send({ type: 'exit' })) {
      this.kill('exit-grace');
      return;
    }
    this.#graceTimer = setTimeout(() => this.kill('exit-grace'), graceMs);
    this.#graceTimer.unref();
  }

  /** Reads the process's RSS and CPU time from the OS (undefined when it cannot be read). */
  sampleUsage(): ProcessUsage | undefined {
    if (this.#gone || this.pid === undefined) return this.usage;
    const usage = readProcessUsage(this.pid);
    if (usage) this.usage = usage;
    return usage;
  }

  /** The best known resident size: the OS's read, else the worker's own report. */
  get residentBytes(): number {
    return this.usage?.rssBytes ?? this.stats.rssBytes;
  }

  #watchOutput(stream: Readable | null, name: 'stdout' | 'stderr'): void {
    if (!stream) return;
    let pending = '';
    stream.setEncoding('utf8');
    // Always read: a worker blocked on a full pipe would look like a stuck render.
    stream.on('data', (chunk: string) => {
      if (name === 'stderr') this.#appendStderr(chunk);
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        this.#emitLine(name, pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
      if (pending.length > MAX_OUTPUT_LINE) {
        this.#emitLine(name, pending);
        pending = '';
      }
    });
    stream.on('end', () => {
      if (pending) this.#emitLine(name, pending);
    });
    stream.on('error', () => undefined);
  }

  #emitLine(stream: 'stdout' | 'stderr', line: string): void {
    if (line.trim() === '') return;
    if (this.#loggedLines >= MAX_LOGGED_LINES) {
      if (this.#loggedLines++ === MAX_LOGGED_LINES) this.emit('output', stream, '(further output of this worker is not logged)');
      return;
    }
    this.#loggedLines++;
    this.emit('output', stream, line.slice(0, MAX_OUTPUT_LINE));
  }

  #appendStderr(text: string): void {
    this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_BYTES);
  }
}

/**
 * V8 flags of every render worker. `--single-threaded-gc`: the workers are the
 * parallelism (one per core), so V8's parallel and concurrent GC helper threads
 * only take CPU from the other workers. Measured in process on the 800x600 line
 * chart: 14.3-15.2 ms of CPU per render against 16.4-23.9 ms with them, and no
 * slower in wall time (bench/RESULTS.md, "GC threads"). `--no-turbo-inlining`:
 * V8's sampling heap profiler names only the outermost function of an optimised
 * frame, so an allocation in an inlined function was counted in its caller (a
 * planted leak came out as `renderJob`); the draw times measured the same
 * within noise (bench/RESULTS.md, "Inlining"). `--heap-growing-percent=200`:
 * under a 2 GiB heap limit V8 lets the old generation grow only to ~1.4x what
 * survived the last full collection before the next, and the external bytes of
 * each render's pixels (two 1.9 MB buffers for an 800x600 chart) count towards
 * it, so a worker with the default 512 MiB limit ran a full mark-compact every
 * 6 renders: 3.3-3.6 ms of GC pauses and marking per request. Growing to 3x
 * makes that one in 25 and 1.4 ms, for 10-45 MB more peak RSS per worker
 * (bench/RESULTS.md, "Worker heap growth"). The heap limit still bounds it: V8
 * never sets the next limit past halfway to it.
 */
export const WORKER_V8_FLAGS: readonly string[] = Object.freeze(['--single-threaded-gc', '--no-turbo-inlining', '--heap-growing-percent=200']);

/**
 * glibc's thresholds for chartd's processes (`npm start` sets the same). Blocks of
 * 4 MiB and more (the canvases of large charts, their encoders' buffers) are mapped
 * on their own and go back to the OS when freed: without that a worker's RSS stays
 * at its peak after one large render. Smaller ones stay in the heap for reuse: at
 * 1 MiB, the 1.9 MB pixel copy of every 800 x 600 chart was mapped, faulted in
 * (~770 page faults) and unmapped per render, 3 ms of a 15 ms render
 * (bench/RESULTS.md, "glibc's thresholds").
 */
export const MALLOC_SETTINGS = Object.freeze({ MALLOC_TRIM_THRESHOLD_: '4194304', MALLOC_MMAP_THRESHOLD_: '4194304' });

/** The parent's environment, with MALLOC_SETTINGS unless the operator chose otherwise. */
function workerEnvironment({ slot, renderLimits, warmUp, settleEveryMs }: WorkerProcessOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? MALLOC_SETTINGS.MALLOC_TRIM_THRESHOLD_,
    MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? MALLOC_SETTINGS.MALLOC_MMAP_THRESHOLD_,
    CHARTD_WORKER_SLOT: String(slot),
    [RENDER_LIMITS_ENV]: JSON.stringify(renderLimits),
    [WARM_UP_ENV]: JSON.stringify(warmUp),
    [SETTLE_EVERY_ENV]: String(settleEveryMs),
  };
}
