/**
 * What running a config's JavaScript costs: the same chart as JSON (declarative
 * options, no sandbox) and as JavaScript with callbacks (a sandbox per render),
 * and the sandbox's own costs (creation, a callback call). In process, one core.
 * Run: npm run bench:scripts
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS, loadScriptEngine, renderChart } from '../src/index.js';
import { ScriptSession } from '../src/render/script/script-session.js';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';

const LABELS = Array.from({ length: 30 }, (_, i) => `day ${i + 1}`);
const VALUES = LABELS.map((_, i) => 100 + ((i * 37) % 90));
const declarative = {
  type: 'bar',
  data: { labels: LABELS, datasets: [{ data: VALUES, backgroundColor: VALUES.map((v) => (v > 150 ? 'rgb(255,99,132)' : 'rgb(54,162,235)')) }] },
  options: { legend: { display: false }, plugins: { tickFormat: { prefix: '$' }, datalabels: { display: true } } },
};
const scripted = `{type:'bar',data:{labels:${JSON.stringify(LABELS)},datasets:[{data:${JSON.stringify(VALUES)},backgroundColor:(ctx) => ctx.raw > 150 ? 'rgb(255,99,132)' : 'rgb(54,162,235)'}]},options:{legend:{display:false},scales:{yAxes:[{ticks:{callback:(v) => '$' + v}}]},plugins:{datalabels:{display:true,formatter:(v) => v + '%'}}}}`;

async function timeRenders(runs: number, chart: unknown): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await renderChart({ chart, width: 600, height: 300 });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b);
}

console.log(`chartd JavaScript configs: ${describeMachine()}; 600x300 at devicePixelRatio 2, 30 bars\n`);
await loadScriptEngine();
await timeRenders(20, declarative);
await timeRenders(20, scripted);
const json = await timeRenders(200, declarative);
const js = await timeRenders(200, scripted);
printTable(
  ['config', 'p50 ms', 'p99 ms'],
  [
    ['JSON: colours listed, tickFormat, datalabels (no sandbox)', percentileOf(json, 50).toFixed(2), percentileOf(json, 99).toFixed(2)],
    ['JavaScript: scriptable colour, tick and datalabels callbacks', percentileOf(js, 50).toFixed(2), percentileOf(js, 99).toFixed(2)],
  ],
);

const created: number[] = [];
for (let i = 0; i < 500; i++) {
  const started = performance.now();
  new ScriptSession(DEFAULT_LIMITS)[Symbol.dispose]();
  created.push(performance.now() - started);
}
const session = new ScriptSession(DEFAULT_LIMITS);
session.evaluateConfig('{f: (v) => v + 1}', 600, 300);
const started = performance.now();
const CALLS = 20_000;
for (let i = 0; i < CALLS; i++) session.call(0, undefined, [i]);
const perCall = ((performance.now() - started) * 1000) / CALLS;
session[Symbol.dispose]();
console.log();
printTable(
  ['sandbox', 'cost'],
  [
    ['create + dispose a runtime (with the prelude)', `${percentileOf(created, 50).toFixed(3)} ms p50`],
    ['one callback call (snapshot in, result out)', `${perCall.toFixed(1)} µs`],
  ],
);
