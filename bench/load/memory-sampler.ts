import { ProcessTree } from './process-tree.js';
import { metricByLabel, metricValue, scrapeMetrics } from './prometheus.js';
import type { Recorder } from './recorder.js';
import { percentileOf } from './stats.js';

/** One row of samples.csv: the server's memory and the load, once a second. */
export interface Sample {
  /** Seconds since the run started. */
  t: number;
  /** Epoch ms. */
  time: number;
  /** Requests completed so far. */
  requests: number;
  /**
   * Whole server: the main process and its worker processes. A local child: the
   * median of the last second's reads (every 100 ms) of VmRSS summed over its
   * process tree, because one read lands on whatever surfaces are in flight (±16 MB
   * at concurrency 4); a remote one: process_resident_memory_bytes plus
   * sum(chartd_worker_resident_bytes).
   */
  rssBytes: number | undefined;
  /** Local child: the lowest and highest read of the second. */
  rssMinBytes: number | undefined;
  rssMaxBytes: number | undefined;
  /** The main process alone (chartd's workers are child processes): the same median for a local child, process_resident_memory_bytes for a remote one. */
  mainRssBytes: number | undefined;
  /** Main thread V8 heap used (nodejs_heap_size_used_bytes). */
  mainHeapBytes: number | undefined;
  /** Per worker slot: chartd_worker_heap_used_bytes. */
  workerHeapBytes: Record<string, number>;
  /** Per worker slot: chartd_worker_heap_post_gc_bytes (absent until the worker's first major GC). */
  workerPostGcBytes: Record<string, number>;
  queueDepth: number | undefined;
  /** Main thread's active handles and requests (nodejs_active_resources_total): grows with traffic when timers or sockets leak. */
  activeResources: number | undefined;
  /** Completions per second over the interval. */
  rps: number;
  /** p99 latency of the requests completed in the interval, ms. */
  p99Ms: number | undefined;
  /** Requests in the interval that did not end as expected. */
  errors: number;
}

export interface SamplerOptions {
  /** A local child: RSS from /proc (cheap, exact, includes everything). */
  pid: number | undefined;
  /** chartd's admin listener: heaps and queue from /metrics. */
  adminUrl: URL | undefined;
  recorder: Recorder;
  intervalMs: number;
  startedAt: number;
}

const RSS_READ_INTERVAL_MS = 100;

export class MemorySampler {
  readonly samples: Sample[] = [];
  /** Scrapes that failed (the server busy or gone); their samples lack metrics. */
  scrapeFailures = 0;
  readonly #options: SamplerOptions;
  #timer: NodeJS.Timeout | undefined;
  #rssTimer: NodeJS.Timeout | undefined;
  #rssReads: number[] = [];
  #mainRssReads: number[] = [];
  readonly #tree: ProcessTree | undefined;
  #busy = false;
  #last: number;

  constructor(options: SamplerOptions) {
    this.#options = options;
    this.#last = options.startedAt;
    this.#tree = options.pid === undefined ? undefined : new ProcessTree(options.pid);
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.sample(), this.#options.intervalMs);
    const tree = this.#tree;
    if (tree) {
      this.#rssTimer ??= setInterval(() => {
        void tree.rss().then((rss) => {
          if (!rss) return;
          this.#rssReads.push(rss.treeBytes);
          this.#mainRssReads.push(rss.mainBytes);
        });
      }, RSS_READ_INTERVAL_MS);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#rssTimer);
    this.#timer = undefined;
    this.#rssTimer = undefined;
    while (this.#busy) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.sample();
  }

  latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = performance.now();
      const interval = this.#options.recorder.takeInterval();
      const seconds = Math.max(0.001, (now - this.#last) / 1000);
      this.#last = now;
      const rssReads = this.#rssReads;
      const mainRssReads = this.#mainRssReads;
      this.#rssReads = [];
      this.#mainRssReads = [];
      if (this.#tree && rssReads.length === 0) {
        const rss = await this.#tree.rss();
        if (rss) {
          rssReads.push(rss.treeBytes);
          mainRssReads.push(rss.mainBytes);
        }
      }
      const sample: Sample = {
        t: (now - this.#options.startedAt) / 1000,
        time: Date.now(),
        requests: this.#options.recorder.completed,
        rssBytes: rssReads.length > 0 ? percentileOf(rssReads, 50) : undefined,
        rssMinBytes: rssReads.length > 0 ? Math.min(...rssReads) : undefined,
        rssMaxBytes: rssReads.length > 0 ? Math.max(...rssReads) : undefined,
        mainRssBytes: mainRssReads.length > 0 ? percentileOf(mainRssReads, 50) : undefined,
        mainHeapBytes: undefined,
        workerHeapBytes: {},
        workerPostGcBytes: {},
        queueDepth: undefined,
        activeResources: undefined,
        rps: interval.completed / seconds,
        p99Ms: interval.latenciesMs.length > 0 ? percentileOf(interval.latenciesMs, 99) : undefined,
        errors: interval.failures,
      };
      if (this.#options.adminUrl) {
        try {
          const metrics = await scrapeMetrics(this.#options.adminUrl);
          if (sample.rssBytes === undefined) {
            const main = metricValue(metrics, 'process_resident_memory_bytes');
            const workers = [...metricByLabel(metrics, 'chartd_worker_resident_bytes', 'worker').values()].reduce((a, b) => a + b, 0);
            sample.rssBytes = main === undefined ? undefined : main + workers;
            sample.mainRssBytes = main;
          }
          sample.mainHeapBytes = metricValue(metrics, 'nodejs_heap_size_used_bytes');
          sample.workerHeapBytes = Object.fromEntries(metricByLabel(metrics, 'chartd_worker_heap_used_bytes', 'worker'));
          sample.workerPostGcBytes = Object.fromEntries(metricByLabel(metrics, 'chartd_worker_heap_post_gc_bytes', 'worker'));
          sample.queueDepth = metricValue(metrics, 'chartd_queue_depth');
          sample.activeResources = metricValue(metrics, 'nodejs_active_resources_total');
        } catch {
          this.scrapeFailures++;
        }
      }
      this.samples.push(sample);
    } finally {
      this.#busy = false;
    }
  }
}

/** The worker slots seen in any sample, sorted. */
export function workerSlots(samples: readonly Sample[]): string[] {
  const slots = new Set<string>();
  for (const sample of samples) for (const slot of Object.keys(sample.workerHeapBytes)) slots.add(slot);
  return [...slots].sort((a, b) => Number(a) - Number(b));
}

export function samplesToCsv(samples: readonly Sample[]): string {
  const slots = workerSlots(samples);
  const header = [
    't_s',
    'time',
    'requests',
    'rss_bytes',
    'rss_min_bytes',
    'rss_max_bytes',
    'main_rss_bytes',
    'main_heap_bytes',
    ...slots.map((slot) => `worker${slot}_heap_bytes`),
    ...slots.map((slot) => `worker${slot}_heap_post_gc_bytes`),
    'queue_depth',
    'active_resources',
    'rps',
    'p99_ms',
    'errors',
  ];
  const cell = (value: number | undefined, digits = 0) => (value === undefined || !Number.isFinite(value) ? '' : value.toFixed(digits));
  const rows = samples.map((s) =>
    [
      cell(s.t, 3),
      new Date(s.time).toISOString(),
      cell(s.requests),
      cell(s.rssBytes),
      cell(s.rssMinBytes),
      cell(s.rssMaxBytes),
      cell(s.mainRssBytes),
      cell(s.mainHeapBytes),
      ...slots.map((slot) => cell(s.workerHeapBytes[slot])),
      ...slots.map((slot) => cell(s.workerPostGcBytes[slot])),
      cell(s.queueDepth),
      cell(s.activeResources),
      cell(s.rps, 2),
      cell(s.p99Ms, 2),
      cell(s.errors),
    ].join(','),
  );
  return [header.join(','), ...rows].join('\n') + '\n';
}
