import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeakSeries, theilSen } from '../../src/diagnostics/leak-detector.js';

const MINUTE = 60_000;
const MB = 1024 * 1024;
const options = { windowMs: 30 * MINUTE, thresholdPerHour: 0.1, minSamples: 12, minCoverage: 0.8, minBytesPerHour: 8 * MB };

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

test('no verdict before the window is covered', () => {
  const series = new LeakSeries(options);
  feed(series, 10, 10_000, (t) => 100 * MB * (1 + t / 3_600_000));
  const estimate = series.estimate();
  assert.ok(estimate.ratioPerHour > 0.5);
  assert.equal(estimate.suspected, false);
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
