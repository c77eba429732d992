/**
 * The bounded queue of jobs waiting for a worker, shared fairly between clients.
 * Admission is the pool's decision (a full queue is refused only when no worker
 * is idle); this keeps the jobs in arrival order, removes one whose client left or
 * whose deadline passed, and decides two things by client (a job's tag; untagged
 * jobs count as one client):
 * - which job a free worker takes: the oldest job of the client with the fewest
 *   renders running, and of those the client served least recently (round robin),
 *   so a client with many jobs queued does not hold the workers while another waits;
 * - when the queue is full, whose job makes room for a newcomer: the newest job of
 *   the client holding the most places, if it holds at least two more than the
 *   newcomer's client, so one client cannot fill the queue and shut the others out.
 */
export class TaskQueue<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  readonly #tagOf: (item: T) => string | undefined;
  /** When each client's last job left the queue for a worker (performance.now()), for the round robin. */
  readonly #servedAt = new Map<string | undefined, number>();

  constructor(capacity: number, tagOf: (item: T) => string | undefined = () => undefined) {
    this.capacity = capacity;
    this.#tagOf = tagOf;
  }

  get length(): number {
    return this.#items.length;
  }

  get full(): boolean {
    return this.#items.length >= this.capacity;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /**
   * The next job for a free worker: the oldest of the client with the fewest
   * running (`runningOf`), then of the one served longest ago, then the oldest.
   */
  takeNext(runningOf: (tag: string | undefined) => number): T | undefined {
    let best = -1;
    let bestRunning = Number.POSITIVE_INFINITY;
    let bestServed = Number.POSITIVE_INFINITY;
    const seen = new Set<string | undefined>();
    for (let i = 0; i < this.#items.length; i++) {
      const tag = this.#tagOf(this.#items[i]!);
      if (seen.has(tag)) continue; // only each client's oldest job is a candidate
      seen.add(tag);
      const running = runningOf(tag);
      const served = this.#servedAt.get(tag) ?? Number.NEGATIVE_INFINITY;
      if (running < bestRunning || (running === bestRunning && served < bestServed)) {
        best = i;
        bestRunning = running;
        bestServed = served;
      }
    }
    if (best === -1) return undefined;
    const [item] = this.#items.splice(best, 1);
    this.#noteServed(this.#tagOf(item!));
    return item;
  }

  #noteServed(tag: string | undefined): void {
    this.#servedAt.delete(tag); // Map order is recency order
    this.#servedAt.set(tag, performance.now());
    // Bounded: clients with nothing queued are forgotten first (they rank as never served when they come back).
    if (this.#servedAt.size <= 4 * this.capacity + 16) return;
    for (const known of this.#servedAt.keys()) if (!this.#holds(known)) this.#servedAt.delete(known);
  }

  /** Whether client `tag` has a job queued. */
  #holds(tag: string | undefined): boolean {
    return this.#items.some((item) => this.#tagOf(item) === tag);
  }

  /** Puts a job back at the head: it was taken for a worker that turned out to be exiting. */
  unshift(item: T): void {
    this.#items.unshift(item);
  }

  /**
   * The job that would make room for a newcomer of client `tag` in a full queue
   * (the newest of the client holding the most places, when it holds at least two
   * more than `tag`), or undefined. It is not removed.
   */
  displaceableFor(tag: string | undefined): T | undefined {
    const places = new Map<string | undefined, number>();
    for (const item of this.#items) {
      const itemTag = this.#tagOf(item);
      places.set(itemTag, (places.get(itemTag) ?? 0) + 1);
    }
    let heaviest: string | undefined;
    let most = 0;
    for (const [itemTag, count] of places) {
      if (count > most) {
        heaviest = itemTag;
        most = count;
      }
    }
    if (most < (places.get(tag) ?? 0) + 2) return undefined;
    for (let i = this.#items.length - 1; i >= 0; i--) {
      if (this.#tagOf(this.#items[i]!) === heaviest) return this.#items[i];
    }
    return undefined;
  }

  /** Jobs queued for client `tag`. */
  countOf(tag: string | undefined): number {
    let count = 0;
    for (const item of this.#items) if (this.#tagOf(item) === tag) count++;
    return count;
  }

  remove(item: T): boolean {
    const index = this.#items.indexOf(item);
    if (index === -1) return false;
    this.#items.splice(index, 1);
    return true;
  }

  /** Empties the queue, returning what it held. */
  drain(): T[] {
    return this.#items.splice(0);
  }

  values(): readonly T[] {
    return this.#items;
  }
}
