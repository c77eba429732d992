/** Weight of the newest render in the running mean: about the last 5 renders count, so it follows a change of load quickly. */
const ALPHA = 0.2;

/**
 * The wait a job queued now can expect: the jobs ahead of it, shared by the
 * workers, at the recent mean render time. A bound on the queue's length alone
 * lets heavy charts wait long (16 places of 500 ms renders on 2 workers: 4 s);
 * a bound on this wait sheds them early and lets light ones queue deeper.
 */
export class QueueWait {
  #meanMs: number | undefined;

  /** A job held a worker this long (whatever its outcome). */
  observe(renderMs: number): void {
    if (!Number.isFinite(renderMs) || renderMs <= 0) return;
    this.#meanMs = this.#meanMs === undefined ? renderMs : this.#meanMs + ALPHA * (renderMs - this.#meanMs);
  }

  /**
   * Expected wait of a job added behind `queued` others with `workers` busy
   * workers, ms. Before any render has finished (a cold start under a burst), the
   * age of the oldest running render stands in for the mean: a burst of heavy
   * charts is not all admitted just because none has finished yet.
   */
  expectedMs(queued: number, workers: number, oldestRunningMs = 0): number {
    const meanMs = this.#meanMs ?? oldestRunningMs;
    return ((queued + 1) / Math.max(1, workers)) * meanMs;
  }
}
