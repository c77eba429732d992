#!/usr/bin/env node
// Prints promtool `input_series` entries (YAML) for series of a recording made by
// scripts/record-memory-series.js, at the recording's own interval: paste them into
// deploy/prometheus/alerts.test.yml under a test with `interval: <that interval>s`.
// Values are written as recorded (bytes rounded to whole KiB to keep lines short;
// `_` where a scrape had no sample, e.g. a worker slot while its process restarted).
//
// Usage: node scripts/recording-to-promtool.js RECORDING.json INSTANCE REGEX [--from S] [--to S]
//   e.g. node scripts/recording-to-promtool.js test/fixtures/leak-series/clean-long.json chartd-a:9464 '^chartd_leak_'
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: options, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' } } });
const [file, instance, pattern] = positionals;
if (!file || !instance || !pattern) throw new Error('usage: recording-to-promtool.js RECORDING.json INSTANCE REGEX [--from S] [--to S]');
const recording = JSON.parse(readFileSync(file, 'utf8'));
const from = Number(options.from ?? 0);
const to = Number(options.to ?? Infinity);
const interval = recording.recorded.intervalSeconds;
const times = [...new Set(Object.values(recording.series).flatMap((points) => points.map(([t]) => t)))].sort((a, b) => a - b).filter((t) => t >= from && t <= to);

const format = (value) => (Math.abs(value) >= 1e6 ? String(Math.round(value / 1024) * 1024) : String(Math.round(value * 1e4) / 1e4));
const regex = new RegExp(pattern);
for (const [key, points] of Object.entries(recording.series)) {
  if (!regex.test(key)) continue;
  const byTime = new Map(points);
  const [, name, labels = ''] = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
  const values = times.map((t) => (byTime.has(t) ? format(byTime.get(t)) : '_'));
  const all = [`job="chartd"`, `instance="${instance}"`, ...(labels ? [labels] : [])].join(', ');
  console.log(`      - series: '${name}{${all}}'`);
  console.log(`        values: '${values.join(' ')}'`);
}
console.error(`${times.length} samples every ${interval}s from ${from}s`);
