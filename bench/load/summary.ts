import type { ChaosStats } from './chaos.js';
import type { Sample } from './memory-sampler.js';
import type { Recorder } from './recorder.js';
import { MB, leastSquaresSlope, percentileOf } from './stats.js';
import { roundTo } from '../../src/values.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface MemoryFigures {
  /** RSS when 10 % of the requests had completed, MB. */
  rssAt10PercentMb: number | undefined;
  rssEndMb: number | undefined;
  rssMaxMb: number | undefined;
  /** Least squares of RSS (MB) over requests completed (thousands), second half of the run's samples. */
  rssSlopeMbPer1000: number;
  slopeSamples: number;
  /** The same slope of the main process alone (render workers excluded), when known. */
  mainRssSlopeMbPer1000: number;
}

/** Memory figures of a run from its samples (shared by the soak and the comparison). */
export function summarizeMemory(samples: readonly Sample[]): MemoryFigures {
  const withRss = samples.filter((s) => s.rssBytes !== undefined);
  const total = samples.at(-1)?.requests ?? 0;
  const at10 = withRss.find((s) => s.requests >= total * 0.1);
  const half = (samples.at(-1)?.t ?? 0) / 2;
  const secondHalf = withRss.filter((s) => s.t >= half).map((s) => ({ x: s.requests / 1000, y: s.rssBytes! / MB }));
  return {
    rssAt10PercentMb: at10 ? roundTo(at10.rssBytes! / MB, 1) : undefined,
    rssEndMb: withRss.length > 0 ? roundTo(withRss.at(-1)!.rssBytes! / MB, 1) : undefined,
    rssMaxMb: withRss.length > 0 ? roundTo(Math.max(...withRss.map((s) => s.rssBytes!)) / MB, 1) : undefined,
    rssSlopeMbPer1000: roundTo(leastSquaresSlope(secondHalf), 3),
    slopeSamples: secondHalf.length,
    mainRssSlopeMbPer1000: roundTo(
      leastSquaresSlope(samples.filter((s) => s.t >= half && s.mainRssBytes !== undefined).map((s) => ({ x: s.requests / 1000, y: s.mainRssBytes! / MB }))),
      3,
    ),
  };
}

export function summarizeLatency(recorder: Recorder): { p50: number; p90: number; p99: number; max: number } {
  const latencies = recorder.latenciesMs;
  return {
    p50: roundTo(percentileOf(latencies, 50), 1),
    p90: roundTo(percentileOf(latencies, 90), 1),
    p99: roundTo(percentileOf(latencies, 99), 1),
    max: roundTo(latencies.length > 0 ? Math.max(...latencies) : Number.NaN, 1),
  };
}

export function outcomeTable(recorder: Recorder): Array<{ outcome: string; count: number }> {
  return [...recorder.byKey.entries()].sort((a, b) => b[1] - a[1]).map(([outcome, count]) => ({ outcome, count }));
}

/** Valid requests that did not render, per worker killed: the chaos cost. */
export function chaosFigures(recorder: Recorder, chaos: ChaosStats) {
  const valid = recorder.byKind.get('valid') ?? { total: 0, ok: 0 };
  const kills = chaos.terminations + chaos.oomSent;
  return {
    ...chaos,
    validFailed: valid.total - valid.ok,
    validFailedPerTermination: chaos.terminations > 0 ? roundTo((valid.total - valid.ok) / chaos.terminations, 3) : null,
    workersKilled: kills,
  };
}
