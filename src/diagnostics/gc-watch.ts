import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/** V8's collections as Node reports them: scavenges, full mark-compacts, incremental marking's finalisation, weak callbacks. */
export const GC_KINDS = Object.freeze(['minor', 'major', 'incremental', 'weakcb'] as const);
export type GcKind = (typeof GC_KINDS)[number];

/** Collections of this thread since it started, by kind: how many, and their pauses in seconds. */
export type GcTotals = Record<GcKind, { count: number; pauseSeconds: number }>;

const KIND_OF_FLAG = new Map<number, GcKind>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

export function emptyGcTotals(): GcTotals {
  return { minor: { count: 0, pauseSeconds: 0 }, major: { count: 0, pauseSeconds: 0 }, incremental: { count: 0, pauseSeconds: 0 }, weakcb: { count: 0, pauseSeconds: 0 } };
}

/** Adds `more` into `sum`, kind by kind, and returns `sum`. */
export function addGcTotals(sum: GcTotals, more: Readonly<GcTotals>): GcTotals {
  for (const kind of GC_KINDS) {
    sum[kind].count += more[kind].count;
    sum[kind].pauseSeconds += more[kind].pauseSeconds;
  }
  return sum;
}

/**
 * The V8 heap used right after this thread's latest major GC: what survived a
 * full collection, so a rising value means retained memory, not garbage waiting
 * (measured: without post-GC samples, short windows give false positives).
 * Read lazily; undefined until the first major GC.
 */
let postGcHeapBytes: number | undefined;
let observer: PerformanceObserver | undefined;
const totals = emptyGcTotals();

/**
 * Lives for the process: the observer is one per process however many services
 * it starts (tests start several), costs one callback per GC, and is never
 * disconnected.
 */
export function watchGc(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = KIND_OF_FLAG.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1);
      if (kind === undefined) continue;
      totals[kind].count++;
      totals[kind].pauseSeconds += entry.duration / 1000;
      if (kind === 'major') postGcHeapBytes = getHeapStatistics().used_heap_size;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

export function readPostGcHeapBytes(): number | undefined {
  return postGcHeapBytes;
}

/** A copy of this thread's collection totals since watchGc() was first called. */
export function readGcTotals(): GcTotals {
  return addGcTotals(emptyGcTotals(), totals);
}
