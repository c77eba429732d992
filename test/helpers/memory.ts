import { leastSquaresSlope } from '../../bench/load/stats.js';

/** Memory sampling for leak tests: after a full GC and an event-loop turn (N-API finalizers). */
export interface MemorySample {
  iteration: number;
  heapUsedBytes: number;
  rssBytes: number;
}

export async function sampleMemory(iteration: number): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('leak tests need node --expose-gc (scripts/run-tests.js passes it)');
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { iteration, heapUsedBytes: heapUsed, rssBytes: rss };
}

/** Least-squares slope of y over x (the benchmarks' own: one slope for soak runs and leak tests); NaN below 3 points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  return leastSquaresSlope(points.map(([x, y]) => ({ x, y })));
}
