import { Counter, Gauge, type Registry } from 'prom-client';
import type { WorkerExitEvent } from '../pool/pool-events.js';
import type { RenderPool, WorkerInfo } from '../pool/render-pool.js';
import { leakedHandleCounts } from '../render/leak-sentinel.js';
import { NATIVE_KINDS, type NativeTally } from '../render/native-kinds.js';
import type { SeriesState } from './leak-monitor.js';
import { GC_KINDS, addGcTotals, emptyGcTotals, type GcKind, type GcTotals } from './gc-watch.js';

/** Each worker slot's memory, native objects, renders, age and CPU, read from the pool when scraped; handles leaked. */
export function registerWorkerMetrics(registry: Registry, pool: RenderPool): void {
  const perWorker = (name: string, help: string, read: (worker: WorkerInfo) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        for (const worker of pool.stats().workers) {
          if (worker.state === 'retiring') continue;
          const value = read(worker);
          if (value !== undefined) this.labels(String(worker.slot)).set(value);
        }
      },
    });
  perWorker('chartd_worker_heap_used_bytes', 'V8 heap used by the worker after its last render', (w) => w.heapUsedBytes);
  perWorker('chartd_worker_heap_post_gc_bytes', "V8 heap used right after the worker's last major GC", (w) => w.heapPostGcBytes);
  perWorker('chartd_worker_heap_settled_bytes', "V8 heap used right after the worker's last forced full GC (every 10 s of rendering)", (w) => w.settledHeapBytes);
  perWorker('chartd_worker_heap_code_bytes', 'Of chartd_worker_heap_settled_bytes, compiled code and bytecode; the rest is the leak detector\'s heap signal', (w) => w.settledCodeBytes);
  perWorker('chartd_worker_external_settled_bytes', "External memory right after the worker's last forced full GC: the leak detector's external signal", (w) => w.settledExternalBytes);
  perWorker('chartd_worker_external_bytes', 'External (Buffer, ArrayBuffer) memory of the worker', (w) => w.externalBytes);
  perWorker('chartd_worker_resident_bytes', "Resident memory (RSS, native memory included) of the worker's process, read from the OS", (w) => w.residentBytes);
  perWorker('chartd_worker_renders', 'Renders served by the worker now in this slot', (w) => w.renders);
  perWorker('chartd_worker_age_seconds', 'Age of the worker now in this slot', (w) => w.ageMs / 1000);
  perWorker('chartd_worker_live_sandboxes', 'Script sandboxes alive in the worker after its last render: 0, or a leak', (w) => w.liveSandboxes);
  const perWorkerNative = (name: string, help: string, read: (tally: NativeTally) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker', 'kind'],
      registers: [registry],
      collect() {
        this.reset();
        for (const worker of pool.stats().workers) {
          if (worker.state === 'retiring') continue;
          for (const kind of NATIVE_KINDS) this.labels(String(worker.slot), kind).set(read(worker.native[kind]));
        }
      },
    });
  perWorkerNative(
    'chartd_worker_native_objects',
    '@napi-rs/canvas objects alive (created, not yet finalized) in the worker after its last render, by kind (canvas, svg_canvas, image, path), whoever made them',
    (tally) => tally.objects,
  );
  perWorkerNative('chartd_worker_native_bytes', 'Pixel bytes (width x height x 4) of the canvases and decoded images alive in the worker, by kind', (tally) => tally.bytes);

  new Counter({
    name: 'chartd_worker_cpu_seconds_total',
    help: "CPU time (user + system) of the worker processes in each slot, those since replaced included",
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      const { workers, retiredCpuSeconds } = pool.stats();
      const bySlot = [...retiredCpuSeconds];
      for (const worker of workers) bySlot[worker.slot] = (bySlot[worker.slot] ?? 0) + worker.cpuSeconds;
      this.reset();
      bySlot.forEach((seconds, slot) => this.labels(String(slot)).inc(seconds));
    },
  });

  registerWorkerGcMetrics(registry, pool);

  // Handles leaked by workers that have since been replaced still count.
  const leakedByRetired = { chart: 0, canvas: 0 };
  pool.on('workerExit', ({ stats }: WorkerExitEvent) => {
    leakedByRetired.chart += stats.leakedCharts;
    leakedByRetired.canvas += stats.leakedCanvases;
  });
  new Counter({
    name: 'chartd_leaked_handles_total',
    help: "Charts and canvases made through chartd's API that were garbage-collected without being disposed",
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const main = leakedHandleCounts();
      const total = { chart: main.chart + leakedByRetired.chart, canvas: main.canvas + leakedByRetired.canvas };
      for (const worker of pool.stats().workers) {
        total.chart += worker.leakedCharts;
        total.canvas += worker.leakedCanvases;
      }
      this.reset();
      this.labels('chart').inc(total.chart);
      this.labels('canvas').inc(total.canvas);
    },
  });
}

/**
 * Each slot's garbage collections by kind, those of replaced workers included:
 * GC's share of a worker's CPU (against chartd_worker_cpu_seconds_total) and how
 * often it runs a full collection, without a profiler.
 */
function registerWorkerGcMetrics(registry: Registry, pool: RenderPool): void {
  const retiredBySlot: GcTotals[] = [];
  pool.on('workerExit', ({ slot, stats }: WorkerExitEvent) => void addGcTotals((retiredBySlot[slot] ??= emptyGcTotals()), stats.gc));
  const totalsBySlot = () => {
    const sums = retiredBySlot.map((retired) => addGcTotals(emptyGcTotals(), retired));
    for (const worker of pool.stats().workers) addGcTotals((sums[worker.slot] ??= emptyGcTotals()), worker.gc);
    return sums;
  };
  const gcCounter = (name: string, help: string, read: (totals: GcTotals[GcKind]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['worker', 'kind'],
      registers: [registry],
      collect() {
        this.reset();
        totalsBySlot().forEach((totals, slot) => {
          for (const kind of GC_KINDS) this.labels(String(slot), kind).inc(read(totals[kind]));
        });
      },
    });
  gcCounter('chartd_worker_gc_total', 'Garbage collections of the worker processes in each slot by kind (minor: scavenge, major: full mark-compact), those since replaced included', (t) => t.count);
  gcCounter('chartd_worker_gc_pause_seconds_total', 'Time the worker processes in each slot were paused in garbage collection, by kind, those since replaced included', (t) => t.pauseSeconds);
}

/** The leak detector's estimate and verdict for each series (thread and signal). */
export function registerLeakMetrics(registry: Registry, leakStates: () => SeriesState[]): void {
  const leakGauge = (name: string, help: string, read: (estimate: SeriesState['estimate']) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['thread', 'signal'],
      registers: [registry],
      collect() {
        this.reset();
        for (const { thread, signal, estimate } of leakStates()) this.labels(thread, signal).set(read(estimate));
      },
    });
  leakGauge('chartd_leak_growth_ratio_per_hour', 'Leak detector: robust memory growth per hour as a fraction of the baseline', (e) => e.ratioPerHour);
  leakGauge('chartd_leak_growth_bytes_per_hour', 'Leak detector: robust memory growth in bytes per hour', (e) => e.bytesPerHour);
  leakGauge('chartd_leak_suspected', 'Leak detector: 1 while growth stays over the threshold for the whole window', (e) => (e.suspected ? 1 : 0));
}
