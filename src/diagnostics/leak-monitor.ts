import type { FastifyBaseLogger } from 'fastify';
import type { RenderPool } from '../pool/render-pool.js';
import type { WorkerInfo } from '../pool/pool-types.js';
import { readPostGcHeapBytes } from './gc-watch.js';
import { LeakSeries, medianOf, type LeakDetectorOptions, type LeakEstimate } from './leak-detector.js';
import { leakNextSteps } from './leak-next-steps.js';

export interface LeakMonitorOptions extends LeakDetectorOptions {
  /** How often to sample, ms. */
  intervalMs: number;
  /** Recycle a worker whose memory is suspected of leaking. */
  recycleWorkers: boolean;
  /** Samples of a process younger than this (by the monitor's clock) are not used: its warm-up, ms. */
  warmUpMs?: number;
  /** ... nor those of a worker that has served fewer renders than this. */
  warmUpRenders?: number;
}

/**
 * Warm-up exclusion: a fresh worker's first 2 minutes and 200 renders are left out
 * (start-up, the first major GCs, the steepest part of the climb).
 */
export const LEAK_MONITOR_WARM_UP = Object.freeze({ ms: 120_000, renders: 200 });

/**
 * Growth per render a worker shows without any leak, by signal, allowed on top of
 * minBytesPerHour at the slot's render rate. Measured on recorded clean runs
 * (test/fixtures/leak-series/clean-long.json, external-leak-long.json for the heap):
 * past its first 2 minutes a worker's post-GC heap keeps climbing for ~12,000
 * renders (not JavaScript objects the heap profile samples: two profiles 90 s apart
 * differ by 20 kB) at up to 364 B/render, its resident memory at up to 950 B/render;
 * its external memory's floor stays flat. The planted leaks read 556-840 B/render
 * (heap) and 640-1,240 B/render (external), hence 450 for both. Since the warm-up is
 * per render, so is the allowance: at 5 renders/s a worker's heap is flagged past
 * 8 MiB/h, at 23 renders/s past 36 MiB/h.
 */
const WARM_UP_BYTES_PER_RENDER = { heap: 450, external: 450, rss: 1200 } as const;

/**
 * Single reads jump by the render in flight, so a sample is made of the last reads
 * (one per interval): RSS takes their median; external memory their minimum, its
 * floor, since what a render encoded stays counted until a GC frees it (recorded
 * clean workers: single reads 20-35 MB, floor flat).
 */
const READS_PER_SAMPLE = { heap: 1, external: 6, rss: 5 } as const;
const REDUCE = { heap: (reads: number[]) => reads.at(-1)!, external: (reads: number[]) => Math.min(...reads), rss: medianOf } as const;

/** heap: post-GC V8 heap; external: Buffers and ArrayBuffers; rss: the process's resident memory. */
export type LeakSignal = 'heap' | 'external' | 'rss';

export interface SeriesState {
  thread: string;
  signal: LeakSignal;
  estimate: LeakEstimate;
}

interface Tracked {
  series: LeakSeries;
  /** In an episode: flagged, and not yet clear for EPISODE_END_SAMPLES samples in a row. */
  suspected: boolean;
  clearSamples: number;
  /** The last raw reads, reduced to one sample. */
  reads: number[];
  slot?: number;
}

/**
 * An episode ends after this many samples in a row without a verdict: a slope at
 * the threshold flickers (recorded: one sample off in a run of 1s), and each flicker
 * would log a new warning and restart the alert's `for`.
 */
const EPISODE_END_SAMPLES = 6;

/** A slot's renders over the window, its processes summed: [time, renders so far]. */
type RenderCount = Array<[timeMs: number, renders: number]>;

/** What the main process reports of itself each sample. */
export interface MainMemory {
  /** Post-GC heap; undefined before the first major GC. */
  heapBytes: number | undefined;
}

function readMainMemory(): MainMemory {
  return { heapBytes: readPostGcHeapBytes() };
}

/** What the monitor needs of the pool: its workers, and a way to replace one. */
export type MonitoredPool = Pick<RenderPool, 'stats' | 'recycleWorker'>;

interface ProcessSeen {
  /** The worker id in the slot (a replacement starts a new segment). */
  workerId: number;
  /** Monitor time until which the process is warming up. */
  warmUntil: number;
}

/**
 * Feeds the leak detector: every interval, the main thread's post-GC heap, and for
 * each worker slot its post-GC heap, external memory and resident memory. A slot's series outlives the workers in it (each one a segment
 * of its own, their warm-ups left out). Logs one warning per episode (when a
 * series becomes suspected) with the commands to run next, and optionally
 * recycles the worker concerned.
 */
export class LeakMonitor {
  readonly #tracked = new Map<string, Tracked>();
  readonly #processes = new Map<string, ProcessSeen>();
  readonly #renders = new Map<string, { counts: RenderCount; before: number; last: number }>();
  readonly #options: LeakMonitorOptions;
  readonly #warmUpMs: number;
  readonly #warmUpRenders: number;
  readonly #pool: MonitoredPool;
  readonly #log: FastifyBaseLogger;
  readonly #adminUrl: () => string;
  #timer: NodeJS.Timeout | undefined;
  #mainWarmUntil: number | undefined;

  readonly #onFault: ((error: unknown) => void) | undefined;

  constructor(deps: { pool: MonitoredPool; log: FastifyBaseLogger; adminUrl: () => string; options: LeakMonitorOptions; onFault?: (error: unknown) => void }) {
    this.#onFault = deps.onFault;
    this.#pool = deps.pool;
    this.#log = deps.log;
    this.#adminUrl = deps.adminUrl;
    this.#options = deps.options;
    this.#warmUpMs = deps.options.warmUpMs ?? LEAK_MONITOR_WARM_UP.ms;
    this.#warmUpRenders = deps.options.warmUpRenders ?? LEAK_MONITOR_WARM_UP.renders;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A sample reads the pool's stats (and /proc through them): whatever throws, a skipped
      // sample is logged and counted; it must never end the process.
      try {
        this.sample();
      } catch (error) {
        this.#log.error({ err: error }, 'leak detector: sample failed');
        this.#onFault?.(error);
      }
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample of every series and updates verdicts. */
  sample(now = Date.now(), main: MainMemory = readMainMemory()): void {
    this.#mainWarmUntil ??= now + this.#warmUpMs;
    // The main process's RSS is not a series here: it holds the render cache (bounded, but
    // filling for as long as traffic brings new charts) and socket buffers, and grew 15-30 MB/h
    // for the first tens of minutes of recorded clean runs. The rss_trend alert watches it.
    if (now >= this.#mainWarmUntil && main.heapBytes !== undefined) this.#record('main', 'heap', now, main.heapBytes);
    for (const worker of this.#pool.stats().workers) {
      if (worker.state === 'starting' || worker.state === 'retiring') continue;
      if (!this.#warmedUp(worker, now)) continue;
      const thread = `worker-${worker.slot}`;
      this.#countRenders(thread, now, worker.renders);
      // Before its first major GC a worker has no post-GC heap: heapUsed would be garbage included.
      if (worker.heapPostGcBytes !== undefined) this.#record(thread, 'heap', now, worker.heapPostGcBytes, worker.slot);
      this.#record(thread, 'external', now, worker.externalBytes, worker.slot);
      this.#record(thread, 'rss', now, worker.residentBytes, worker.slot);
    }
  }

  states(): SeriesState[] {
    return [...this.#tracked.entries()].map(([key, tracked]) => {
      const [thread, signal] = key.split('|') as [string, LeakSignal];
      // The episode's state, not the last estimate's: one sample under the threshold does not end it.
      return { thread, signal, estimate: { ...this.#estimate(thread, signal, tracked), suspected: tracked.suspected } };
    });
  }

  #countRenders(thread: string, now: number, renders: number): void {
    let entry = this.#renders.get(thread);
    if (!entry) this.#renders.set(thread, (entry = { counts: [], before: 0, last: 0 }));
    if (renders < entry.last) entry.before += entry.last; // a new process in the slot counts from 0
    entry.last = renders;
    entry.counts.push([now, entry.before + renders]);
    while (entry.counts.length > 1 && entry.counts[0]![0] < now - this.#options.windowMs) entry.counts.shift();
  }

  /** Renders per hour of the slot over the window (0 for the main thread). */
  #rendersPerHour(thread: string): number {
    const counts = this.#renders.get(thread)?.counts;
    if (!counts || counts.length < 2) return 0;
    const [t0, r0] = counts[0]!;
    const [t1, r1] = counts.at(-1)!;
    return t1 > t0 ? ((r1 - r0) * 3_600_000) / (t1 - t0) : 0;
  }

  #estimate(thread: string, signal: LeakSignal, tracked: Tracked): LeakEstimate {
    return tracked.series.estimate(WARM_UP_BYTES_PER_RENDER[signal] * this.#rendersPerHour(thread));
  }

  /** Whether the worker is past its warm-up; a new worker in a slot starts a new segment of the slot's series. */
  #warmedUp(worker: WorkerInfo, now: number): boolean {
    const key = `worker-${worker.slot}`;
    const seen = this.#processes.get(key);
    if (seen?.workerId !== worker.id) {
      this.#processes.set(key, { workerId: worker.id, warmUntil: now + this.#warmUpMs });
      if (seen) {
        for (const [trackedKey, tracked] of this.#tracked) {
          if (!trackedKey.startsWith(`${key}|`)) continue;
          tracked.series.newSegment();
          tracked.reads.length = 0;
        }
      }
      return false;
    }
    return now >= seen.warmUntil && worker.renders >= this.#warmUpRenders;
  }

  #get(thread: string, signal: LeakSignal, slot: number | undefined): Tracked {
    const key = `${thread}|${signal}`;
    let tracked = this.#tracked.get(key);
    if (!tracked) {
      tracked = { series: new LeakSeries(this.#options), suspected: false, clearSamples: 0, reads: [], ...(slot === undefined ? {} : { slot }) };
      this.#tracked.set(key, tracked);
    }
    return tracked;
  }

  #record(thread: string, signal: LeakSignal, now: number, bytes: number, slot?: number): void {
    const tracked = this.#get(thread, signal, slot);
    tracked.reads.push(bytes);
    if (tracked.reads.length > READS_PER_SAMPLE[signal]) tracked.reads.shift();
    tracked.series.add(now, REDUCE[signal](tracked.reads));
    const estimate = this.#estimate(thread, signal, tracked);
    if (estimate.suspected) {
      tracked.clearSamples = 0;
      if (!tracked.suspected && this.#onEpisodeStart(thread, signal, tracked, estimate)) return;
      tracked.suspected = true;
    } else if (tracked.suspected && ++tracked.clearSamples >= EPISODE_END_SAMPLES) {
      tracked.suspected = false;
      this.#log.info({ thread, signal, ratioPerHour: round(estimate.ratioPerHour) }, 'memory growth no longer suspected');
    }
  }

  /** Logs the verdict; returns whether the worker was recycled. */
  #onEpisodeStart(thread: string, signal: LeakSignal, tracked: Tracked, estimate: LeakEstimate): boolean {
    const next = leakNextSteps(this.#adminUrl(), signal, tracked.slot);
    const recycle = this.#options.recycleWorkers && tracked.slot !== undefined;
    if (recycle) {
      this.#pool.recycleWorker(tracked.slot!, 'memory');
      // The action used the evidence up: the successor earns (or not) a verdict of its own, and a recycle of its own.
      this.#forget(thread);
    }
    this.#log.warn(
      {
        thread,
        signal,
        recycled: recycle,
        growthBytesPerHour: Math.round(estimate.bytesPerHour),
        growthRatioPerHour: round(estimate.ratioPerHour),
        baselineBytes: Math.round(estimate.baselineBytes),
        spanMs: Math.round(estimate.spanMs),
        windowMs: this.#options.windowMs,
        next,
      },
      `memory growth suspected in ${thread} (${signal}): ${(estimate.ratioPerHour * 100).toFixed(1)} %/h, ` +
        `${(estimate.bytesPerHour / 1024 / 1024).toFixed(1)} MiB/h over ${Math.round(estimate.spanMs / 60_000)} min; ` +
        `find what holds it with: ${next.join(' && ')}` +
        (recycle ? ' (the worker was recycled, --leak-recycle: profile its successor if growth returns)' : ''),
    );
    return recycle;
  }

  #forget(thread: string): void {
    for (const [key, tracked] of this.#tracked) {
      if (!key.startsWith(`${thread}|`)) continue;
      tracked.series.clear();
      tracked.reads.length = 0;
      tracked.suspected = false;
      tracked.clearSamples = 0;
    }
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
