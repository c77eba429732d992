import { collectGarbage } from '../diagnostics/profilers.js';

/** Why an answer never reached its client: --send-timeout dropped it, or the client closed first. */
export type DropReason = 'send_timeout' | 'client_gone';

/** Answers at least this large, dropped unsent, make a collection worth its pause. */
const LARGE_ANSWER_BYTES = 1024 * 1024;
/** Drops within this time share one collection. */
const DELAY_MS = 1_000;
/** At most one collection per this interval, however many answers are dropped. */
const MIN_INTERVAL_MS = 10_000;

/**
 * Gives back the memory of answers whose clients never took them. A dropped
 * answer's Buffer is garbage at once, but V8 collects only when JavaScript
 * allocates: an instance gone idle after a burst of unread 15 MB SVGs kept 166 MB
 * of them (and its RSS) until the next traffic. So a dropped large answer
 * schedules one full collection, debounced and rate limited (a few tens of
 * milliseconds each, through the inspector: no --expose-gc).
 */
export class DroppedAnswers {
  #timer: NodeJS.Timeout | undefined;
  #lastAt = Number.NEGATIVE_INFINITY;
  readonly #onDropped: ((reason: DropReason, bytes: number) => void) | undefined;
  readonly #onError: (error: unknown) => void;

  constructor({ onDropped, onError }: { onDropped?: ((reason: DropReason, bytes: number) => void) | undefined; onError: (error: unknown) => void }) {
    this.#onDropped = onDropped;
    this.#onError = onError;
  }

  /** An answer of `bytes` was dropped before its client took it all. */
  dropped(bytes: number, reason: DropReason): void {
    this.#onDropped?.(reason, bytes);
    if (bytes < LARGE_ANSWER_BYTES || this.#timer) return;
    const wait = Math.max(DELAY_MS, this.#lastAt + MIN_INTERVAL_MS - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#lastAt = Date.now();
      collectGarbage().catch(this.#onError);
    }, wait);
    this.#timer.unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
