#!/usr/bin/env node
// Prints promtool `input_series` (YAML) of the leak detector's gauges
// (chartd_leak_growth_ratio_per_hour, chartd_leak_suspected) as chartd would have
// exported them on a recorded run: the fixture's real memory series replayed
// through the compiled leak monitor (dist/test/helpers/leak-replay.js, default
// settings), one value per 10 s sample. For deploy/prometheus/alerts.test.yml.
//
// Usage (after npx tsc -p tsconfig.json):
//   node scripts/leak-gauges-to-promtool.js FIXTURE_NAME INSTANCE [--from S] [--to S]
import { parseArgs } from 'node:util';

const { values: options, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' } } });
const [name, instance] = positionals;
if (!name || !instance) throw new Error('usage: leak-gauges-to-promtool.js FIXTURE_NAME INSTANCE [--from S] [--to S]');
const { loadRecording, replay } = await import(new URL('../dist/test/helpers/leak-replay.js', import.meta.url).href);
const from = Number(options.from ?? 0);
const to = Number(options.to ?? Infinity);
const series = new Map();
const times = [];
replay(loadRecording(name), {
  onSample(seconds, states) {
    if (seconds < from || seconds > to) return;
    const index = times.push(seconds) - 1;
    for (const { thread, signal, estimate } of states) {
      for (const [metric, value] of [
        ['chartd_leak_growth_ratio_per_hour', Math.round(estimate.ratioPerHour * 1000) / 1000],
        ['chartd_leak_suspected', estimate.suspected ? 1 : 0],
      ]) {
        const key = `${metric}{job="chartd", instance="${instance}", thread="${thread}", signal="${signal}"}`;
        if (!series.has(key)) series.set(key, []);
        series.get(key)[index] = value;
      }
    }
  },
});
for (const [key, values] of series) {
  console.log(`      - series: '${key}'`);
  console.log(`        values: '${times.map((_, i) => (values[i] === undefined ? '_' : String(values[i]))).join(' ')}'`);
}
console.error(`${times.length} samples, ${times[0]}s to ${times.at(-1)}s`);
