import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * The V8 heap used right after this thread's latest major GC: what survived a
 * full collection, so a rising value means retained memory, not garbage waiting
 * (measured: without post-GC samples, short windows give false positives).
 * Read lazily; undefined until the first major GC.
 */
let postGcHeapBytes: number | undefined;
let observer: PerformanceObserver | undefined;

/**
 * Lives for the process: the observer is one per process however many services
 * it starts (tests start several), costs one callback per GC, and is never
 * disconnected.
 */
export function watchMajorGc(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) postGcHeapBytes = getHeapStatistics().used_heap_size;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

export function readPostGcHeapBytes(): number | undefined {
  return postGcHeapBytes;
}
