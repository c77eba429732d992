/**
 * Leak-trend detection on memory samples of one series (a thread's post-GC heap,
 * or the process RSS): a Theil-Sen slope (the median of pairwise slopes, robust to
 * GC sawtooth and outliers) over a sliding window, reported per hour in bytes and
 * as a fraction of the window's baseline. A series is suspected when growth passes
 * the threshold over the whole window and in each half of it, so one step up (a
 * cache filling once) is not a leak but sustained growth is.
 */
export interface LeakDetectorOptions {
  /** Sliding window, ms. */
  windowMs: number;
  /** Growth per hour, as a fraction of the baseline, past which a series is suspected (0.1 = 10 %/h). */
  thresholdPerHour: number;
  /** Fewest samples before any verdict. */
  minSamples: number;
  /** Fraction of the window the samples must span before any verdict. */
  minCoverage: number;
  /**
   * Growth below this many bytes per hour is never a leak, whatever its ratio: a
   * 14 MB main-thread heap warming up by 1 MB is 10 %, and harmless.
   */
  minBytesPerHour: number;
}

export const LEAK_DETECTOR_DEFAULTS: Readonly<LeakDetectorOptions> = Object.freeze({
  windowMs: 30 * 60_000, // 30 minutes
  thresholdPerHour: 0.1, // 10 % per hour
  minSamples: 12,
  minCoverage: 0.8,
  minBytesPerHour: 8 * 1024 * 1024, // 8 MiB/h, ~190 MiB a day
});

export interface LeakEstimate {
  samples: number;
  spanMs: number;
  baselineBytes: number;
  bytesPerHour: number;
  ratioPerHour: number;
  suspected: boolean;
}

const HOUR_MS = 3_600_000;
const MAX_PAIRWISE_SAMPLES = 400; // Theil-Sen is O(n²): thin longer windows evenly

export class LeakSeries {
  readonly #samples: Array<[timeMs: number, bytes: number]> = [];
  readonly #options: LeakDetectorOptions;

  constructor(options: Partial<LeakDetectorOptions> = {}) {
    this.#options = { ...LEAK_DETECTOR_DEFAULTS, ...options };
  }

  add(timeMs: number, bytes: number): void {
    this.#samples.push([timeMs, bytes]);
    const oldest = timeMs - this.#options.windowMs;
    while (this.#samples.length > 0 && this.#samples[0]![0] < oldest) this.#samples.shift();
  }

  clear(): void {
    this.#samples.length = 0;
  }

  estimate(): LeakEstimate {
    const samples = thin(this.#samples, MAX_PAIRWISE_SAMPLES);
    const spanMs = samples.length > 1 ? samples.at(-1)![0] - samples[0]![0] : 0;
    const baselineBytes = median(samples.slice(0, Math.max(1, Math.floor(samples.length / 4))).map(([, bytes]) => bytes));
    const bytesPerHour = theilSen(samples) * HOUR_MS;
    const ratioPerHour = baselineBytes > 0 ? bytesPerHour / baselineBytes : 0;
    const enough = samples.length >= this.#options.minSamples && spanMs >= this.#options.minCoverage * this.#options.windowMs;
    let suspected = false;
    if (enough && ratioPerHour > this.#options.thresholdPerHour && bytesPerHour > this.#options.minBytesPerHour) {
      const half = Math.floor(samples.length / 2);
      const halves = [samples.slice(0, half), samples.slice(half)];
      suspected = halves.every((part) => (theilSen(part) * HOUR_MS) / baselineBytes > this.#options.thresholdPerHour / 2);
    }
    return { samples: samples.length, spanMs, baselineBytes, bytesPerHour, ratioPerHour, suspected };
  }
}

/** Median of pairwise slopes, bytes per ms. */
export function theilSen(points: ReadonlyArray<readonly [number, number]>): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j]![0] - points[i]![0];
      if (dx > 0) slopes.push((points[j]![1] - points[i]![1]) / dx);
    }
  }
  return slopes.length === 0 ? 0 : median(slopes);
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function thin<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]!);
}
