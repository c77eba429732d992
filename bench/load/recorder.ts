import type { Outcome, OutcomeClass } from './http-client.js';

export interface IntervalStats {
  completed: number;
  latenciesMs: number[];
  /** Requests in the interval that did not end as expected (documented errors on valid charts, unexpected, lost). */
  failures: number;
}

/** Everything a load run learns from its outcomes: totals by outcome and per-interval latencies. */
export class Recorder {
  completed = 0;
  readonly byKey = new Map<string, number>();
  readonly byClass: Record<OutcomeClass, number> = { ok: 0, 'documented-error': 0, unexpected: 0, 'no-response': 0 };
  readonly byKind = new Map<string, { total: number; ok: number }>();
  /** Latencies of every completed request, ms, for the run's percentiles. */
  readonly latenciesMs: number[] = [];
  /** The first few surprises, with details, for the summary. */
  readonly examples: Array<{ label: string; key: string; detail: string | undefined }> = [];
  #interval: IntervalStats = { completed: 0, latenciesMs: [], failures: 0 };

  record(outcome: Outcome): void {
    this.completed++;
    this.byKey.set(outcome.key, (this.byKey.get(outcome.key) ?? 0) + 1);
    this.byClass[outcome.class]++;
    const kind = this.byKind.get(outcome.request.kind) ?? { total: 0, ok: 0 };
    kind.total++;
    if (outcome.class === 'ok') kind.ok++;
    this.byKind.set(outcome.request.kind, kind);
    this.latenciesMs.push(outcome.latencyMs);
    this.#interval.completed++;
    this.#interval.latenciesMs.push(outcome.latencyMs);
    if (outcome.class !== 'ok') this.#interval.failures++;
    if ((outcome.class === 'unexpected' || outcome.class === 'no-response') && this.examples.length < 20) {
      this.examples.push({ label: outcome.request.label, key: outcome.key, detail: outcome.detail });
    }
  }

  /** What happened since the last call. */
  takeInterval(): IntervalStats {
    const interval = this.#interval;
    this.#interval = { completed: 0, latenciesMs: [], failures: 0 };
    return interval;
  }

  /** Valid charts that rendered / valid charts sent. */
  successRatio(): number {
    const valid = this.byKind.get('valid');
    return valid && valid.total > 0 ? valid.ok / valid.total : Number.NaN;
  }
}
