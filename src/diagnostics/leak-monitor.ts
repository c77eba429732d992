import type { FastifyBaseLogger } from 'fastify';
import type { RenderPool } from '../pool/render-pool.js';
import type { WorkerInfo } from '../pool/pool-types.js';
import type { NativeCounts } from '../render/native-kinds.js';
import { readPostGcHeapBytes } from './gc-watch.js';
import { LeakSeries, medianOf, type LeakDetectorOptions, type LeakEstimate } from './leak-detector.js';
import { leakNextSteps } from './leak-next-steps.js';
import { roundTo } from '../values.js';
import { WARM_UP } from './warm-up.js';

export interface LeakMonitorOptions extends LeakDetectorOptions {
  /** How often to sample, ms. */
  intervalMs: number;
  /** Recycle a worker whose memory is suspected of leaking. */
  recycleWorkers: boolean;
  /** Samples of a process younger than this (by the monitor's clock) are not used: its warm-up, ms. */
  warmUpMs?: number;
  /** ... nor those of a worker that has served fewer renders than this. */
  warmUpRenders?: number;
  /** Worker resident memory and the main thread's heap settle later: their samples start this long into a process, ms. */
  settleMs?: number;
}

/**
 * Warm-up exclusion: a fresh worker's first 2 minutes and 200 renders are left out
 * (start-up, the first major GCs, the steepest part of the climb). A worker's
 * resident memory and the main thread's heap are left out for their first 10
 * minutes: measured on clean servers at ~2.4 renders/s per worker
 * (test/e2e/leak.e2e.ts), a worker's RSS still climbed 80-105 MiB/h in its minutes
 * 2 to 8 (the allocator's arenas and Skia's caches filling) and the main heap
 * 8.5 MiB/h (60 %/h of 14 MB); a leak of JavaScript objects, Buffers or canvases
 * shows in the heap, external and native signals, which start at 2 minutes.
 */
export const LEAK_MONITOR_WARM_UP = Object.freeze({ ...WARM_UP, settleMs: 600_000 });

/**
 * Growth per render a worker shows without any leak, by signal: the allowance, in
 * place of the floor when larger, for the renders the slot served in the window.
 * Measured on recorded clean runs (test/fixtures/leak-series/clean-*.json): a
 * worker's settled heap, code aside, grew 0-250 B/render over its first 3,000
 * renders (at 2.5 and 10 renders/s) and 10-65 B/render after; its settled external
 * memory not at all; its resident memory up to 3.9 KB/render early and 950 B/render
 * later. So a process's first EARLY_RENDERS renders are allowed `early` bytes each
 * and the later ones `late`: at 2.5 renders/s a worker's heap is flagged past
 * 2.1 MiB/h, at 10 renders/s past 8.6 MiB/h early and 3.4 MiB/h later.
 */
const WARM_UP_BYTES_PER_RENDER = {
  heap: { early: 250, late: 100 },
  external: { early: 0, late: 0 },
  rss: { early: 5000, late: 1200 },
  native: { early: 0, late: 0 },
} as const;
const EARLY_RENDERS = 3000;

/**
 * The floor of a worker's heap and external signals, read after a forced full GC
 * (diagnostics/settled-memory.ts), in place of minBytesPerHour: they hold still
 * enough for a leak of a few MB an hour to show. Recorded clean workers at 2.5
 * renders/s: slopes of 0.6-1 MiB/h over their first 10 minutes (heap; external 0);
 * planted leaks of ~2.8 MiB/h read 2.7-3.8 MiB/h.
 */
const SETTLED_MIN_BYTES_PER_HOUR = 2 * 1024 * 1024;

/** The growth allowed for a process's first `renders` renders, bytes. */
function allowedGrowth(signal: LeakSignal, renders: number): number {
  const { early, late } = WARM_UP_BYTES_PER_RENDER[signal];
  return early * Math.min(renders, EARLY_RENDERS) + late * Math.max(0, renders - EARLY_RENDERS);
}

/**
 * A clean worker's native pixel bytes are its one reusable canvas (surfaces.ts),
 * sized by the last render and shrunk past KEEP_SURFACE_MAX_PIXELS (2,000,000 px,
 * 8 MB): traffic moving from small charts to large ones can grow it by that much,
 * once. Growth of that size within one window is allowed for the native signal.
 */
const SPARE_CANVAS_MAX_BYTES = 2_000_000 * 4;

/** The kinds whose pixel bytes make the native signal; a native verdict names the one that grew most. */
export const NATIVE_PIXEL_KINDS = ['canvas', 'image'] as const;
export type NativePixelKind = (typeof NATIVE_PIXEL_KINDS)[number];

/**
 * A worker's heap and external memory are read after a forced full GC: one read is
 * a sample. Resident memory jumps by the render in flight, so a sample is the
 * median of its last reads (one per interval); native pixel bytes take the
 * minimum, their floor, since a canvas dropped since the last GC counts until its
 * finalizer runs.
 */
const READS_PER_SAMPLE = { heap: 1, external: 1, rss: 5, native: 6 } as const;
const floorOf = (reads: number[]) => Math.min(...reads);
const lastOf = (reads: number[]) => reads.at(-1)!;
const REDUCE = { heap: lastOf, external: lastOf, rss: medianOf, native: floorOf } as const;

/**
 * heap: post-GC V8 heap; external: Buffers and ArrayBuffers; rss: the process's
 * resident memory; native: pixel bytes of the canvases and images alive in the
 * worker, whoever made them (render/native-census.cts).
 */
export type LeakSignal = 'heap' | 'external' | 'rss' | 'native';

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
/** A slot's render counts over the window: the process's own count, and which process (a replacement counts from 0). */
type RenderCount = Array<[timeMs: number, renders: number, workerId: number]>;

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
  /** Monitor time from which its resident memory is sampled. */
  settledAt: number;
}

/**
 * Feeds the leak detector: every interval, the main thread's post-GC heap, and for
 * each worker slot its post-GC heap, external memory, resident memory and native pixel
 * bytes (canvases and images). A slot's series outlives the workers in it (each one a segment
 * of its own, their warm-ups left out). Logs one warning per episode (when a
 * series becomes suspected) with the commands to run next, and optionally
 * recycles the worker concerned.
 */
export class LeakMonitor {
  readonly #tracked = new Map<string, Tracked>();
  readonly #processes = new Map<string, ProcessSeen>();
  readonly #renders = new Map<string, { counts: RenderCount }>();
  /** Per slot, the native signal split by kind (not verdicts of their own: they name the kind of a native verdict), and the last counts. */
  readonly #nativeKinds = new Map<string, { kinds: Record<NativePixelKind, Tracked>; last: NativeCounts }>();
  readonly #options: LeakMonitorOptions;
  readonly #warmUpMs: number;
  readonly #settleMs: number;
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
    this.#settleMs = Math.max(this.#warmUpMs, deps.options.settleMs ?? LEAK_MONITOR_WARM_UP.settleMs);
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

  /** Stops sampling; start() may sample again. The monitor holds nothing else. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Takes one sample of every series and updates verdicts. */
  sample(now = Date.now(), main: MainMemory = readMainMemory()): void {
    this.#mainWarmUntil ??= now + this.#settleMs;
    // The main process's RSS is not a series here: it holds the render cache (bounded, but
    // filling for as long as traffic brings new charts) and socket buffers, and grew 15-30 MB/h
    // for the first tens of minutes of recorded clean runs. The rss_trend alert watches it.
    if (now >= this.#mainWarmUntil && main.heapBytes !== undefined) this.#record('main', 'heap', now, main.heapBytes);
    for (const worker of this.#pool.stats().workers) {
      if (worker.state === 'starting' || worker.state === 'retiring') continue;
      if (!this.#warmedUp(worker, now)) continue;
      const thread = `worker-${worker.slot}`;
      this.#countRenders(thread, now, worker.renders, worker.id);
      // Read after the worker's forced full GCs (diagnostics/settled-memory.ts); none before its first.
      // Code is left out: V8 compiles more of it as functions get hot (settled-memory.ts).
      if (worker.settledHeapBytes !== undefined) this.#record(thread, 'heap', now, worker.settledHeapBytes - (worker.settledCodeBytes ?? 0), worker.slot);
      if (worker.settledExternalBytes !== undefined) this.#record(thread, 'external', now, worker.settledExternalBytes, worker.slot);
      if (now >= this.#processes.get(thread)!.settledAt) this.#record(thread, 'rss', now, worker.residentBytes, worker.slot);
      this.#recordNativeKinds(thread, now, worker.native);
      this.#record(thread, 'native', now, worker.native.canvas.bytes + worker.native.image.bytes, worker.slot);
    }
  }

  states(): SeriesState[] {
    return [...this.#tracked.entries()].map(([key, tracked]) => {
      const [thread, signal] = key.split('|') as [string, LeakSignal];
      // The episode's state, not the last estimate's: one sample under the threshold does not end it.
      return { thread, signal, estimate: { ...this.#estimate(thread, signal, tracked), suspected: tracked.suspected } };
    });
  }

  #countRenders(thread: string, now: number, renders: number, workerId: number): void {
    let entry = this.#renders.get(thread);
    if (!entry) this.#renders.set(thread, (entry = { counts: [] }));
    entry.counts.push([now, renders, workerId]);
    while (entry.counts.length > 1 && entry.counts[0]![0] < now - this.#options.windowMs) entry.counts.shift();
  }

  /**
   * The growth per hour the slot's renders over the window are allowed (0 for the main
   * thread): summed render by render, each process from where the window first saw it.
   */
  #allowancePerHour(thread: string, signal: LeakSignal): number {
    const counts = this.#renders.get(thread)?.counts;
    if (!counts || counts.length < 2) return 0;
    let allowed = 0;
    for (let i = 1; i < counts.length; i++) {
      const [, before, beforeProcess] = counts[i - 1]!;
      const [, after, afterProcess] = counts[i]!;
      if (afterProcess === beforeProcess) allowed += allowedGrowth(signal, after) - allowedGrowth(signal, before);
    }
    const spanMs = counts.at(-1)![0] - counts[0]![0];
    return spanMs > 0 ? (allowed * 3_600_000) / spanMs : 0;
  }

  #estimate(thread: string, signal: LeakSignal, tracked: Tracked): LeakEstimate {
    const spare = signal === 'native' ? (SPARE_CANVAS_MAX_BYTES * 3_600_000) / this.#options.windowMs : 0;
    return tracked.series.estimate(Math.max(spare, this.#allowancePerHour(thread, signal)));
  }

  #recordNativeKinds(thread: string, now: number, native: NativeCounts): void {
    let entry = this.#nativeKinds.get(thread);
    if (!entry) {
      const tracker = (): Tracked => ({ series: new LeakSeries(this.#options), suspected: false, clearSamples: 0, reads: [] });
      entry = { kinds: { canvas: tracker(), image: tracker() }, last: native };
      this.#nativeKinds.set(thread, entry);
    }
    entry.last = native;
    for (const kind of NATIVE_PIXEL_KINDS) {
      const tracked = entry.kinds[kind];
      tracked.reads.push(native[kind].bytes);
      if (tracked.reads.length > READS_PER_SAMPLE.native) tracked.reads.shift();
      tracked.series.add(now, floorOf(tracked.reads));
    }
  }

  /** The kind whose pixel bytes grew fastest over the window, with its live count now. */
  #grownNativeKind(thread: string): { kind: NativePixelKind; objects: number } {
    const entry = this.#nativeKinds.get(thread);
    let kind: NativePixelKind = 'canvas';
    let fastest = -Infinity;
    for (const candidate of NATIVE_PIXEL_KINDS) {
      const perHour = entry?.kinds[candidate].series.estimate().bytesPerHour ?? 0;
      if (perHour > fastest) [kind, fastest] = [candidate, perHour];
    }
    return { kind, objects: entry?.last[kind].objects ?? 0 };
  }

  /** Every tracker of a thread: its series, and the per-kind split of its native signal. */
  *#trackersOf(thread: string): Iterable<Tracked> {
    for (const [key, tracked] of this.#tracked) if (key.startsWith(`${thread}|`)) yield tracked;
    const native = this.#nativeKinds.get(thread);
    if (native) yield* Object.values(native.kinds);
  }

  /** Whether the worker is past its warm-up; a new worker in a slot starts a new segment of the slot's series. */
  #warmedUp(worker: WorkerInfo, now: number): boolean {
    const key = `worker-${worker.slot}`;
    const seen = this.#processes.get(key);
    if (seen?.workerId !== worker.id) {
      this.#processes.set(key, { workerId: worker.id, warmUntil: now + this.#warmUpMs, settledAt: now + this.#settleMs });
      if (seen) {
        for (const tracked of this.#trackersOf(key)) {
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
      const settled = slot !== undefined && (signal === 'heap' || signal === 'external');
      const options = settled ? { ...this.#options, minBytesPerHour: Math.min(this.#options.minBytesPerHour, SETTLED_MIN_BYTES_PER_HOUR) } : this.#options;
      tracked = { series: new LeakSeries(options), suspected: false, clearSamples: 0, reads: [], ...(slot === undefined ? {} : { slot }) };
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
      this.#log.info({ thread, signal, ratioPerHour: roundTo(estimate.ratioPerHour, 3) }, 'memory growth no longer suspected');
    }
  }

  /** Logs the verdict; returns whether the worker was recycled. */
  #onEpisodeStart(thread: string, signal: LeakSignal, tracked: Tracked, estimate: LeakEstimate): boolean {
    // A native verdict names the kind that grew (and how many are alive), before a recycle forgets them.
    const native = signal === 'native' ? this.#grownNativeKind(thread) : undefined;
    const next = leakNextSteps(this.#adminUrl(), signal, tracked.slot, native?.kind);
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
        ...(native ? { kind: native.kind, liveObjects: native.objects } : {}),
        recycled: recycle,
        growthBytesPerHour: Math.round(estimate.bytesPerHour),
        growthRatioPerHour: roundTo(estimate.ratioPerHour, 3),
        baselineBytes: Math.round(estimate.baselineBytes),
        spanMs: Math.round(estimate.spanMs),
        windowMs: this.#options.windowMs,
        next,
      },
      `memory growth suspected in ${thread} (${native ? `native: ${native.kind}, ${native.objects} alive` : signal}): ` +
        `${(estimate.ratioPerHour * 100).toFixed(1)} %/h, ` +
        `${(estimate.bytesPerHour / 1024 / 1024).toFixed(1)} MiB/h over ${Math.round(estimate.spanMs / 60_000)} min; ` +
        `find what holds it with: ${next.join(' && ')}` +
        (recycle ? ' (the worker was recycled, --leak-recycle: profile its successor if growth returns)' : ''),
    );
    return recycle;
  }

  #forget(thread: string): void {
    for (const tracked of this.#trackersOf(thread)) {
      tracked.series.clear();
      tracked.reads.length = 0;
      tracked.suspected = false;
      tracked.clearSamples = 0;
    }
  }
}

