import type { MemorySampler } from './memory-sampler.js';
import type { Recorder } from './recorder.js';
import { MB } from './stats.js';

/**
 * One progress line: requests done, rate, current RSS. Rewritten in place with \r
 * on a terminal; a plain line every `lineEveryMs` otherwise (CI logs, nohup).
 */
export class Progress {
  readonly #tty = Boolean(process.stderr.isTTY);
  readonly #timer: NodeJS.Timeout;
  #lastLineAt = 0;
  #lastCompleted = 0;
  #lastAt = performance.now();
  #rate = 0;

  constructor(
    private readonly deps: { recorder: Recorder; sampler: MemorySampler; total: number | undefined; startedAt: number; label: string },
    lineEveryMs = 10_000,
  ) {
    this.#timer = setInterval(() => this.#update(lineEveryMs), 1_000);
  }

  stop(): void {
    clearInterval(this.#timer);
    if (this.#tty) process.stderr.write('\n');
  }

  #update(lineEveryMs: number): void {
    const now = performance.now();
    const { recorder, sampler, total, startedAt, label } = this.deps;
    // Smoothed over 1 s ticks, so the shown rate is neither jumpy nor stale.
    const instant = ((recorder.completed - this.#lastCompleted) * 1000) / (now - this.#lastAt);
    this.#rate = this.#rate === 0 ? instant : 0.7 * this.#rate + 0.3 * instant;
    this.#lastCompleted = recorder.completed;
    this.#lastAt = now;
    const rss = sampler.latest()?.rssBytes;
    const failed = recorder.completed - recorder.byClass.ok;
    const line =
      `${label}: ${recorder.completed.toLocaleString('en-US')}${total ? `/${total.toLocaleString('en-US')}` : ''} requests, ` +
      `${this.#rate.toFixed(1)} req/s, RSS ${rss === undefined ? '?' : (rss / MB).toFixed(0)} MB, ` +
      `not ok ${failed}, ${formatDuration((now - startedAt) / 1000)}`;
    if (this.#tty) process.stderr.write(`\r${line}\x1b[K`);
    else if (now - this.#lastLineAt >= lineEveryMs) {
      this.#lastLineAt = now;
      process.stderr.write(line + '\n');
    }
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
