import { ChartdError } from '../errors.js';

/**
 * One heavy capture at a time (heap snapshots block a thread for seconds and
 * need ~12x the heap in transient memory, measured): a second one is refused
 * at once with CAPTURE_BUSY rather than queued.
 */
export class CaptureGate {
  #running: string | undefined;

  async run<T>(what: string, capture: () => Promise<T>): Promise<T> {
    if (this.#running) throw new ChartdError('CAPTURE_BUSY', `a capture is already running (${this.#running}); retry when it ends`);
    this.#running = what;
    try {
      return await capture();
    } finally {
      this.#running = undefined;
    }
  }

  /** Holds the gate until `done` settles (for captures streamed to a client). */
  hold(what: string, done: Promise<unknown>): void {
    if (this.#running) throw new ChartdError('CAPTURE_BUSY', `a capture is already running (${this.#running}); retry when it ends`);
    this.#running = what;
    void done.finally(() => {
      this.#running = undefined;
    });
  }
}
