import type { FastifyBaseLogger } from 'fastify';
import type { RenderPool } from '../pool/render-pool.js';
import { readPostGcHeapBytes } from './gc-watch.js';
import { LeakSeries, type LeakDetectorOptions, type LeakEstimate } from './leak-detector.js';

export interface LeakMonitorOptions extends LeakDetectorOptions {
  /** How often to sample, ms. */
  intervalMs: number;
  /** Recycle a worker whose heap is suspected of leaking. */
  recycleWorkers: boolean;
}

export type LeakSignal = 'heap' | 'rss';

export interface SeriesState {
  thread: string;
  signal: LeakSignal;
  estimate: LeakEstimate;
}

interface Tracked {
  series: LeakSeries;
  suspected: boolean;
  /** For worker series: the worker id the samples belong to (a replacement starts afresh). */
  workerId?: number;
  slot?: number;
}

/**
 * Feeds the leak detector: every interval, the main thread's post-GC heap and the
 * process RSS, and each worker's post-GC heap. Logs one warning per episode (when
 * a series becomes suspected) with the commands to run next, and optionally
 * recycles the worker concerned.
 */
export class LeakMonitor {
  readonly #tracked = new Map<string, Tracked>();
  readonly #options: LeakMonitorOptions;
  readonly #pool: RenderPool;
  readonly #log: FastifyBaseLogger;
  readonly #adminUrl: () => string;
  #timer: NodeJS.Timeout | undefined;

  readonly #onFault: ((error: unknown) => void) | undefined;

  constructor(deps: { pool: RenderPool; log: FastifyBaseLogger; adminUrl: () => string; options: LeakMonitorOptions; onFault?: (error: unknown) => void }) {
    this.#onFault = deps.onFault;
    this.#pool = deps.pool;
    this.#log = deps.log;
    this.#adminUrl = deps.adminUrl;
    this.#options = deps.options;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A sample reads /proc (process.memoryUsage): out of descriptors it throws. A skipped
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
  sample(now = Date.now()): void {
    const memory = process.memoryUsage();
    this.#record('main', 'heap', now, readPostGcHeapBytes() ?? memory.heapUsed);
    this.#record('main', 'rss', now, memory.rss);
    for (const worker of this.#pool.stats().workers) {
      if (worker.state === 'starting' || worker.state === 'retiring') continue;
      const thread = `worker-${worker.slot}`;
      const tracked = this.#get(thread, 'heap');
      if (tracked.workerId !== worker.id) {
        tracked.series.clear();
        tracked.suspected = false;
        tracked.workerId = worker.id;
        tracked.slot = worker.slot;
      }
      this.#record(thread, 'heap', now, worker.heapPostGcBytes ?? worker.heapUsedBytes);
    }
  }

  states(): SeriesState[] {
    return [...this.#tracked.entries()].map(([key, tracked]) => {
      const [thread, signal] = key.split('|') as [string, LeakSignal];
      return { thread, signal, estimate: tracked.series.estimate() };
    });
  }

  #get(thread: string, signal: LeakSignal): Tracked {
    const key = `${thread}|${signal}`;
    let tracked = this.#tracked.get(key);
    if (!tracked) {
      tracked = { series: new LeakSeries(this.#options), suspected: false };
      this.#tracked.set(key, tracked);
    }
    return tracked;
  }

  #record(thread: string, signal: LeakSignal, now: number, bytes: number): void {
    const tracked = this.#get(thread, signal);
    tracked.series.add(now, bytes);
    const estimate = tracked.series.estimate();
    if (estimate.suspected && !tracked.suspected) this.#onEpisodeStart(thread, signal, tracked, estimate);
    else if (!estimate.suspected && tracked.suspected) {
      this.#log.info({ thread, signal, ratioPerHour: round(estimate.ratioPerHour) }, 'memory growth no longer suspected');
    }
    tracked.suspected = estimate.suspected;
  }

  #onEpisodeStart(thread: string, signal: LeakSignal, tracked: Tracked, estimate: LeakEstimate): void {
    const workerQuery = tracked.slot === undefined ? '' : `?worker=${tracked.slot}`;
    const adminUrl = this.#adminUrl();
    const profileUrl = `${adminUrl}/debug/pprof/heap${workerQuery}`;
    const next = [
      `curl -s -o heap-1.pb.gz '${profileUrl}'`,
      'sleep 300',
      `curl -s -o heap-2.pb.gz '${profileUrl}'`,
      'go tool pprof -top -diff_base heap-1.pb.gz heap-2.pb.gz',
      `go tool pprof -top '${profileUrl}'`,
      `curl -s '${adminUrl}/debug/resources'`,
    ];
    const recycle = this.#options.recycleWorkers && tracked.slot !== undefined;
    if (recycle) this.#pool.recycleWorker(tracked.slot!, 'memory');
    this.#log.warn(
      {
        thread,
        signal,
        recycled: recycle,
        growthBytesPerHour: Math.round(estimate.bytesPerHour),
        growthRatioPerHour: round(estimate.ratioPerHour),
        baselineBytes: Math.round(estimate.baselineBytes),
        windowMs: this.#options.windowMs,
        next,
      },
      `memory growth suspected in ${thread} (${signal}): ${(estimate.ratioPerHour * 100).toFixed(1)} %/h over the window; ` +
        `find the function holding it with: ${next.join(' && ')}` +
        (recycle ? ' (the worker was recycled, --leak-recycle: profile its successor if growth returns)' : ''),
    );
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
