export interface ChaosOptions {
  adminUrl: URL;
  /** Worker slots 0..workers-1. */
  workers: number;
  /** Fires on this period, ms... */
  intervalMs: number | undefined;
  /** ...or after every this many completed requests (a count: independent of the machine's speed). */
  everyRequests: number | undefined;
  /** oom configs sent per tick. */
  oomPerTick: number;
  /** Sends one oom config (outside the closed loop, so the valid load is not slowed by waiting for it). */
  sendOom(): Promise<void>;
  random(): number;
}

export interface ChaosStats {
  ticks: number;
  /** Workers ended through POST /debug/workers/N/terminate. */
  terminations: number;
  /** Terminate calls refused (the slot's worker was being replaced) or failed. */
  terminateMisses: number;
  oomSent: number;
}

/**
 * Kills workers while the load runs: each tick terminates a random worker via the
 * admin endpoint (as a crash would) and sends oom configs, which blow their
 * worker's heap. What must hold meanwhile is checked by the caller from the outcomes.
 */
export class ChaosMonkey {
  readonly stats: ChaosStats = { ticks: 0, terminations: 0, terminateMisses: 0, oomSent: 0 };
  readonly #options: ChaosOptions;
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #nextAt: number;
  #stopped = false;

  constructor(options: ChaosOptions) {
    this.#options = options;
    this.#nextAt = options.everyRequests ?? Number.POSITIVE_INFINITY;
  }

  start(): void {
    if (this.#options.intervalMs !== undefined) this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  /** Call with the completed count after each request, for `everyRequests`. */
  onCompleted(completed: number): void {
    if (completed < this.#nextAt) return;
    this.#nextAt = completed + this.#options.everyRequests!;
    this.#tick();
  }

  /** Stops ticking and waits for what it started (oom requests included). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending]);
  }

  #tick(): void {
    if (this.#stopped) return;
    this.stats.ticks++;
    this.#track(this.#terminateRandomWorker());
    for (let i = 0; i < this.#options.oomPerTick; i++) {
      this.stats.oomSent++;
      this.#track(this.#options.sendOom());
    }
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  /** Tries the slots in a random order: a slot whose worker is being replaced answers 404. */
  async #terminateRandomWorker(): Promise<void> {
    const first = Math.floor(this.#options.random() * this.#options.workers);
    for (let i = 0; i < this.#options.workers; i++) {
      const slot = (first + i) % this.#options.workers;
      try {
        const response = await fetch(new URL(`/debug/workers/${slot}/terminate`, this.#options.adminUrl), {
          method: 'POST',
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
        if (response.status === 202) {
          this.stats.terminations++;
          return;
        }
      } catch {
        // counted below
      }
    }
    this.stats.terminateMisses++;
  }
}
