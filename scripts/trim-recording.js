#!/usr/bin/env node
// Trims a recording of scripts/record-memory-series.js to a test fixture
// (test/fixtures/leak-series/): only the series the leak monitor reads (each
// worker slot's age, renders, post-GC and settled heap, code, external (raw and settled) and resident memory, native
// objects and bytes by kind; the
// main process's RSS; restarts), one sample per --step seconds (the detector's
// default interval, 10 s), bytes rounded to KiB. The `recorded` header is kept.
//
// Usage: node scripts/trim-recording.js RECORDING.json FIXTURE.json [--step 10]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { step: { type: 'string', default: '10' } } });
const [from, to] = positionals;
if (!from || !to) throw new Error('usage: trim-recording.js RECORDING.json FIXTURE.json [--step 10]');
const recording = JSON.parse(readFileSync(from, 'utf8'));
const KEEP = /^(chartd_worker_(age_seconds|renders|heap_post_gc_bytes|heap_settled_bytes|heap_code_bytes|external_settled_bytes|external_bytes|resident_bytes|native_objects|native_bytes)\{|process_resident_memory_bytes$|chartd_worker_restarts_total\{)/;
const step = Number(values.step);
// One time grid for every series, from the scrapes (the main process's RSS is in each): a gauge
// missing from some scrapes (a worker's before it first settles) must not shift its samples off
// the others', or a replay finds no reading of it at the others' times.
const kept = new Set();
let next = -Infinity;
for (const [t] of recording.series.process_resident_memory_bytes) {
  if (t + 0.5 < next) continue;
  next = t + step;
  kept.add(t);
}
const series = {};
for (const [key, points] of Object.entries(recording.series)) {
  if (!KEEP.test(key)) continue;
  series[key] = points
    .filter(([t]) => kept.has(t))
    .map(([t, value]) => [t, /_bytes(\{|$)/.test(key) ? Math.round(value / 1024) * 1024 : Math.round(value * 10) / 10]);
}
const fixture = { recorded: { ...recording.recorded, trimmed: `node scripts/trim-recording.js ${positionals.join(' ')} --step ${step}` }, series };
writeFileSync(to, `${JSON.stringify(fixture)}\n`);
console.log(`${to}: ${Object.keys(series).length} series`);
