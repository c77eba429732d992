import { ChartdError } from '../errors.js';

export interface ClientBudgetOptions {
  /** Worker time one client may use per window while other clients have work waiting or running, ms. */
  budgetMs: number;
  windowMs: number;
  /** Clients remembered at once; the least recently seen idle one is forgotten first. */
  maxClients?: number;
}

interface Usage {
  /** Worker time per bucket, ms; BUCKETS buckets of windowMs / BUCKETS each. */
  buckets: Float64Array;
  /** Index of the bucket that `bucketStart` starts. */
  head: number;
  bucketStart: number;
  inFlight: number;
}

const BUCKETS = 10;

/**
 * The budget, ms per window, of a client allowed `percent` of the workers' time
 * (--client-budget, or an API key's budgetPercent); 0 % never refuses (Infinity).
 */
export function budgetMsOf(percent: number, options: { workers: number; clientBudgetWindowMs: number }): number {
  return percent > 0 ? (percent / 100) * options.workers * options.clientBudgetWindowMs : Number.POSITIVE_INFINITY;
}
const DEFAULT_MAX_CLIENTS = 10_000;

/**
 * Fair use of the workers between clients (by address, or by API key name):
 * each client's worker time over a sliding window. A client past its budget is
 * refused (429 CLIENT_BUDGET_EXCEEDED, Retry-After) only while another client has
 * a render waiting or running, so one client cannot starve the others, and a
 * client alone (a batch job, a single caller) still gets every worker.
 * Bounded: at most maxClients are remembered.
 */
export class ClientBudget {
  readonly #options: Required<ClientBudgetOptions>;
  readonly #clients = new Map<string, Usage>();
  #inFlight = 0;

  constructor(options: ClientBudgetOptions) {
    this.#options = { maxClients: DEFAULT_MAX_CLIENTS, ...options };
  }

  /**
   * The refusal for a new render of `client` now, or undefined to admit it. `budgetMs`:
   * this client's own budget (an API key's), instead of the default; Infinity never refuses.
   */
  check(client: string, now = Date.now(), budgetMs = this.#options.budgetMs): ChartdError | undefined {
    const usage = this.#clients.get(client);
    if (!usage) return undefined;
    const used = this.#used(usage, now);
    const othersWaiting = this.#inFlight - usage.inFlight > 0;
    if (used <= budgetMs || !othersWaiting) return undefined;
    const error = new ChartdError(
      'CLIENT_BUDGET_EXCEEDED',
      `this client used ${Math.round(used / 1000)} s of render time in the last ${Math.round(this.#options.windowMs / 1000)} s, ` +
        `over its share of ${Math.round(budgetMs / 1000)} s while other clients wait; retry after Retry-After`,
    );
    return Object.assign(error, { retryAfterSeconds: Math.ceil(this.#options.windowMs / BUCKETS / 1000) });
  }

  /** A render of `client` was admitted. */
  begin(client: string, now = Date.now()): void {
    const usage = this.#touch(client, now);
    usage.inFlight++;
    this.#inFlight++;
  }

  /** The render admitted by begin() has ended, however it ended. */
  finish(client: string, now = Date.now()): void {
    const usage = this.#touch(client, now);
    if (usage.inFlight > 0) {
      usage.inFlight--;
      this.#inFlight--;
    }
  }

  /** Counts worker time a render of `client` held. */
  charge(client: string, workerMs: number, now = Date.now()): void {
    const usage = this.#touch(client, now);
    this.#advance(usage, now);
    usage.buckets[usage.head] = (usage.buckets[usage.head] ?? 0) + Math.max(0, workerMs);
  }

  /** Worker time a client used in the window, ms (0 for one not seen). */
  usedMs(client: string, now = Date.now()): number {
    const usage = this.#clients.get(client);
    return usage ? this.#used(usage, now) : 0;
  }

  get clients(): number {
    return this.#clients.size;
  }

  #touch(client: string, now: number): Usage {
    let usage = this.#clients.get(client);
    if (usage) {
      // Map order is recency order: move it to the end.
      this.#clients.delete(client);
    } else {
      usage = { buckets: new Float64Array(BUCKETS), head: 0, bucketStart: now, inFlight: 0 };
      this.#evict();
    }
    this.#clients.set(client, usage);
    return usage;
  }

  #evict(): void {
    if (this.#clients.size < this.#options.maxClients) return;
    for (const [key, usage] of this.#clients) {
      if (usage.inFlight === 0) {
        this.#clients.delete(key);
        return;
      }
    }
  }

  #used(usage: Usage, now: number): number {
    this.#advance(usage, now);
    let sum = 0;
    for (const value of usage.buckets) sum += value;
    return sum;
  }

  /** Moves the head to the bucket of `now`, clearing the buckets that left the window. */
  #advance(usage: Usage, now: number): void {
    const width = this.#options.windowMs / BUCKETS;
    const steps = Math.floor((now - usage.bucketStart) / width);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      usage.head = (usage.head + 1) % BUCKETS;
      usage.buckets[usage.head] = 0;
    }
    usage.bucketStart += steps * width;
  }
}
