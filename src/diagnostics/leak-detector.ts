/**
 * Leak-trend detection on memory samples of one series (a worker slot's post-GC
 * heap, external memory or resident memory; the main thread's heap or RSS): a
 * Theil-Sen slope (the median of pairwise slopes, robust to GC sawtooth and
 * outliers) over a sliding window, reported per hour in bytes and as a fraction of
 * the window's baseline.
 *
 * A series spans the processes that held its slot: each process is a segment, and
 * slopes are taken only between samples of the same segment. A recycle therefore
 * neither resets the evidence (a leak that outlives no process is still seen, from
 * all of them together) nor reads as growth or shrinkage (the drop to a fresh
 * process's level pairs nothing).
 *
 * A series is suspected when growth passes the threshold (relative and absolute)
 * over the window and in each half of it, so one step up (a cache filling once)
 * is not a leak but sustained growth is; and only after minSpanMs of samples, so
 * the verdict's delay is a fixed time, not a fraction of the window.
 */
export interface LeakDetectorOptions {
  /** Sliding window, ms. */
  windowMs: number;
  /** Growth per hour, as a fraction of the baseline, past which a series is suspected (0.1 = 10 %/h). */
  thresholdPerHour: number;
  /** Fewest samples before any verdict. */
  minSamples: number;
  /**
   * Time the samples must cover (summed over the segments in the window) before any
   * verdict, ms. Measured on recorded clean and leaking runs (test/fixtures/leak-series):
   * below about 5 minutes the post-GC heap's steps read as slopes of several MB/h.
   */
  minSpanMs: number;
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
  minSpanMs: 6 * 60_000, // 6 minutes of samples past the warm-up
  minBytesPerHour: 8 * 1024 * 1024, // 8 MiB/h, ~190 MiB a day
});

export interface LeakEstimate {
  samples: number;
  /** Time covered by the samples in the window, summed over segments, ms. */
  spanMs: number;
  baselineBytes: number;
  bytesPerHour: number;
  ratioPerHour: number;
  suspected: boolean;
}

type Sample = readonly [timeMs: number, bytes: number, segment: number];

const HOUR_MS = 3_600_000;
const MAX_PAIRWISE_SAMPLES = 400; // Theil-Sen is O(n²): thin longer windows evenly

export class LeakSeries {
  readonly #samples: Sample[] = [];
  readonly #options: LeakDetectorOptions;
  #segment = 0;

  constructor(options: Partial<LeakDetectorOptions> = {}) {
    this.#options = { ...LEAK_DETECTOR_DEFAULTS, ...options };
  }

  add(timeMs: number, bytes: number): void {
    this.#samples.push([timeMs, bytes, this.#segment]);
    const oldest = timeMs - this.#options.windowMs;
    while (this.#samples.length > 0 && this.#samples[0]![0] < oldest) this.#samples.shift();
  }

  /** The samples that follow come from another process (a worker replaced in its slot). */
  newSegment(): void {
    if (this.#samples.at(-1)?.[2] === this.#segment) this.#segment++;
  }

  clear(): void {
    this.#samples.length = 0;
  }

  /**
   * The estimate and verdict. floorBytesPerHour raises minBytesPerHour for this
   * verdict (the caller's allowance for growth that is not a leak, e.g. a warm-up
   * proportional to the render rate).
   */
  estimate(floorBytesPerHour = 0): LeakEstimate {
    const minBytesPerHour = Math.max(this.#options.minBytesPerHour, floorBytesPerHour);
    const samples = thin(this.#samples, MAX_PAIRWISE_SAMPLES);
    const spanMs = coveredMs(samples);
    const baselineBytes = median(samples.slice(0, Math.max(1, Math.floor(samples.length / 4))).map(([, bytes]) => bytes));
    const bytesPerHour = theilSen(samples) * HOUR_MS;
    const ratioPerHour = baselineBytes > 0 ? bytesPerHour / baselineBytes : 0;
    // A window shorter than minSpanMs (--leak-window for a quick check) asks for 80 % of itself instead.
    const minSpanMs = Math.min(this.#options.minSpanMs, 0.8 * this.#options.windowMs);
    const enough = samples.length >= this.#options.minSamples && spanMs >= minSpanMs;
    let suspected = false;
    if (enough && ratioPerHour > this.#options.thresholdPerHour && bytesPerHour > minBytesPerHour) {
      suspected = halvesByTime(samples).every((part) => {
        const perHour = theilSen(part) * HOUR_MS;
        return perHour / baselineBytes > this.#options.thresholdPerHour / 2 && perHour > minBytesPerHour / 2;
      });
    }
    return { samples: samples.length, spanMs, baselineBytes, bytesPerHour, ratioPerHour, suspected };
  }
}

/**
 * Median of pairwise slopes, bytes per ms. Points may carry a segment (third
 * element): pairs are taken within a segment only.
 */
export function theilSen(points: ReadonlyArray<readonly [number, number, number?]>): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      if (points[j]![2] !== points[i]![2]) continue;
      const dx = points[j]![0] - points[i]![0];
      if (dx > 0) slopes.push((points[j]![1] - points[i]![1]) / dx);
    }
  }
  return slopes.length === 0 ? 0 : median(slopes);
}

/** Time covered by each segment's samples, summed. */
function coveredMs(samples: readonly Sample[]): number {
  let total = 0;
  let start = 0;
  for (let i = 1; i <= samples.length; i++) {
    if (i === samples.length || samples[i]![2] !== samples[start]![2]) {
      total += samples[i - 1]![0] - samples[start]![0];
      start = i;
    }
  }
  return total;
}

/** The samples split where half the covered time has passed: "each half of the window". */
function halvesByTime(samples: readonly Sample[]): [Sample[], Sample[]] {
  const half = coveredMs(samples) / 2;
  for (let i = 1; i < samples.length; i++) {
    if (coveredMs(samples.slice(0, i + 1)) >= half) return [samples.slice(0, i + 1), samples.slice(i + 1)];
  }
  return [[...samples], []];
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median of the values, for callers that smooth single reads (RSS, external memory). */
export function medianOf(values: readonly number[]): number {
  return median([...values]);
}

function thin<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  return Array.from({ length: max }, (_, i) => items[Math.floor(i * step)]!);
}
