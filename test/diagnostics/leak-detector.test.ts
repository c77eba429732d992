import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LEAK_DETECTOR_DEFAULTS, LeakSeries, theilSen } from '../../src/diagnostics/leak-detector.js';

const MINUTE = 60_000;
const MB = 1024 * 1024;
const options = { ...LEAK_DETECTOR_DEFAULTS };

/** Deterministic noise in [-1, 1]. */
function noise(i: number): number {
  return Math.sin(i * 12.9898) * 0.5 + Math.sin(i * 78.233) * 0.5;
}

function feed(series: LeakSeries, minutes: number, stepMs: number, bytesAt: (t: number, i: number) => number): void {
  for (let i = 0, t = 0; t <= minutes * MINUTE; i++, t += stepMs) series.add(t, bytesAt(t, i));
}

test('flags a sustained leak of 26 %/h', () => {
  const series = new LeakSeries(options);
  feed(series, 30, 10_000, (t, i) => 100 * MB * (1 + (0.26 * t) / 3_600_000) + 3 * MB * noise(i));
  const estimate = series.estimate();
  assert.equal(estimate.suspected, true);
  assert.ok(Math.abs(estimate.ratioPerHour - 0.26) < 0.05, `ratio ${estimate.ratioPerHour}`);
});

test('stays quiet under a steady workload with a GC sawtooth', () => {
  const series = new LeakSeries(options);
  // Heap climbs 40 MB between collections every 2 minutes, then drops back.
  feed(series, 30, 10_000, (t, i) => 100 * MB + 40 * MB * ((t % (2 * MINUTE)) / (2 * MINUTE)) + 2 * MB * noise(i));
  const estimate = series.estimate();
  assert.equal(estimate.suspected, false, `ratio ${estimate.ratioPerHour}`);
  assert.ok(Math.abs(estimate.ratioPerHour) < 0.1);
});

test('a single step up (a cache filling once) is not a leak', () => {
  const series = new LeakSeries(options);
  feed(series, 30, 10_000, (t, i) => (t < 15 * MINUTE ? 100 : 130) * MB + MB * noise(i));
  assert.equal(series.estimate().suspected, false);
});

test('no verdict before minSpanMs of samples, a verdict right after', () => {
  const series = new LeakSeries(options);
  const minutes = options.minSpanMs / MINUTE;
  feed(series, minutes - 0.5, 10_000, (t) => 100 * MB * (1 + t / 3_600_000));
  const early = series.estimate();
  assert.ok(early.ratioPerHour > 0.5);
  assert.equal(early.suspected, false);
  series.add(minutes * MINUTE, 100 * MB * (1 + (minutes * MINUTE) / 3_600_000));
  assert.equal(series.estimate().suspected, true);
});

test('segments: a sawtooth of flat processes is not a leak, one of growing processes is', () => {
  // Each process (segment) starts at its own level; only pairs within one process count.
  const flat = new LeakSeries(options);
  const growing = new LeakSeries(options);
  for (let process = 0; process < 6; process++) {
    const start = process * 3 * MINUTE;
    for (let t = start; t < start + 3 * MINUTE; t += 10_000) {
      flat.add(t, (process % 2 ? 160 : 100) * MB + 0.2 * MB * noise(t / 10_000));
      growing.add(t, (process % 2 ? 160 : 100) * MB + (30 * MB * (t - start)) / 3_600_000);
    }
    flat.newSegment();
    growing.newSegment();
  }
  const f = flat.estimate();
  const g = growing.estimate();
  assert.equal(f.suspected, false, `flat: ${JSON.stringify(f)}`);
  assert.ok(Math.abs(f.bytesPerHour) < 2 * MB, `flat slope ${f.bytesPerHour / MB} MB/h`);
  assert.equal(g.suspected, true, `growing: ${JSON.stringify(g)}`);
  assert.ok(Math.abs(g.bytesPerHour / MB - 30) < 1, `growing slope ${g.bytesPerHour / MB} MB/h`);
  // The drops between processes are not time covered: 6 processes of 170 s.
  assert.equal(g.spanMs, 6 * 170_000);
});

test('old samples leave the window', () => {
  const series = new LeakSeries(options);
  feed(series, 60, 10_000, (t) => (t < 30 * MINUTE ? 100 * MB * (1 + t / 3_600_000) : 150 * MB));
  assert.equal(series.estimate().suspected, false);
});

test('a small heap warming up is not a leak, however large its ratio', () => {
  // The main thread after start: 12.8 MB rising to 14 MB, about 10 %/h and 2 MB/h.
  const series = new LeakSeries(options);
  feed(series, 30, 10_000, (t) => 12.8 * MB + (1.2 * MB * t) / (30 * MINUTE));
  const estimate = series.estimate();
  assert.ok(estimate.ratioPerHour > 0.1, `ratio ${estimate.ratioPerHour}`);
  assert.equal(estimate.suspected, false);
});

test('Theil-Sen ignores an outlier that least squares would follow', () => {
  const points: Array<[number, number]> = Array.from({ length: 20 }, (_, i) => [i, 5]);
  points[19] = [19, 10_000];
  assert.equal(theilSen(points), 0);
});
