import { ChartdError } from '../errors.js';

interface Pending {
  workerId: number;
  resolve(body: Uint8Array | undefined): void;
  reject(error: ChartdError): void;
  timer: NodeJS.Timeout;
}

/**
 * Diagnostic captures (profiles, heap snapshots) waiting for their worker's
 * answer, keyed by request id. One map for every request, so nothing is left
 * behind per request (no listener per capture); a worker that exits fails its
 * captures at once with CAPTURE_FAILED, and a capture past its timeout fails too.
 */
export class PendingCaptures {
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  open(workerId: number, timeoutMs: number, onTimeout?: () => void): { requestId: number; done: Promise<Uint8Array | undefined> } {
    const requestId = this.#nextId++;
    const done = new Promise<Uint8Array | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(requestId, new ChartdError('CAPTURE_FAILED', `the worker did not finish the capture within ${Math.round(timeoutMs / 1000)} s`));
        onTimeout?.();
      }, timeoutMs);
      timer.unref();
      this.#pending.set(requestId, { workerId, resolve, reject, timer });
    });
    return { requestId, done };
  }

  succeed(requestId: number, body: Uint8Array | undefined): void {
    const pending = this.#take(requestId);
    pending?.resolve(body);
  }

  fail(requestId: number, error: ChartdError): void {
    const pending = this.#take(requestId);
    pending?.reject(error);
  }

  /** Fails every capture of a worker that has gone. */
  failWorker(workerId: number, error: () => ChartdError): void {
    for (const [requestId, pending] of this.#pending) if (pending.workerId === workerId) this.fail(requestId, error());
  }

  countFor(workerId: number): number {
    let count = 0;
    for (const pending of this.#pending.values()) if (pending.workerId === workerId) count++;
    return count;
  }

  #take(requestId: number): Pending | undefined {
    const pending = this.#pending.get(requestId);
    if (!pending) return undefined;
    this.#pending.delete(requestId);
    clearTimeout(pending.timer);
    return pending;
  }
}
