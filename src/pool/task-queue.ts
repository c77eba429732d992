/**
 * The bounded FIFO of jobs waiting for a worker. Admission is the pool's
 * decision (a full queue is refused only when no worker is idle); this keeps
 * order and removes a job whose client left or whose deadline passed.
 */
export class TaskQueue<T> {
  readonly capacity: number;
  readonly #items: T[] = [];

  constructor(capacity: number) {
    this.capacity = capacity;
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

  shift(): T | undefined {
    return this.#items.shift();
  }

  /** Puts a job back at the head: it was taken for a worker that turned out to be exiting. */
  unshift(item: T): void {
    this.#items.unshift(item);
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
