#!/usr/bin/env node
// Records the memory series chartd exports, from a real run, for the leak
// detector's fixtures (test/fixtures/leak-series/) and the alert rules' promtool
// tests (deploy/prometheus/alerts.test.yml).
//
// Starts `node bin/chartd.js serve` (compiled chartd, default settings
// unless --serve-args says otherwise), puts a steady load of small charts on it
// (bar, line, pie, doughnut with changing data, GET /chart, --concurrency loops),
// each loop paced to at most --rate requests/s when given, and scrapes the admin port's /metrics every --interval seconds for --minutes.
// A planted leak (test/fixtures/fault-hooks.js preloaded with NODE_OPTIONS, never
// reachable without it) is sent with every --leak-every-th request:
// --leak heap|external|native and --leak-bytes per leaking render (native: canvases
// made straight from @napi-rs/canvas, one of about that many pixel bytes under 1 MiB).
//
// Usage: node scripts/record-memory-series.js --out FILE [--minutes 10] [--interval 5]
//          [--concurrency 2] [--rate 2.5] [--leak heap --leak-bytes 8192 --leak-every 20]
//          [--serve-args="--max-renders-per-worker 3000"]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { MALLOC_SETTINGS } from '../dist/src/pool/worker-process.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    minutes: { type: 'string', default: '10' },
    interval: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '2' },
    rate: { type: 'string', default: '0' },
    leak: { type: 'string' },
    'leak-bytes': { type: 'string', default: '8192' },
    'leak-every': { type: 'string', default: '10' },
    'serve-args': { type: 'string', default: '' },
    port: { type: 'string', default: '3411' },
    'admin-port': { type: 'string', default: '9475' },
  },
});
if (!args.out) throw new Error('--out FILE is required');

const root = new URL('..', import.meta.url).pathname;
const port = Number(args.port);
const adminPort = Number(args['admin-port']);
const durationMs = Number(args.minutes) * 60_000;
const intervalMs = Number(args.interval) * 1000;
const leakEvery = Number(args['leak-every']);
const leakBytes = Number(args['leak-bytes']);
const leakHook = { heap: 'leakBytes', external: 'leakExternalBytes', native: 'leakNativeBytes' }[args.leak ?? ''];
if (args.leak && !leakHook) throw new Error(`--leak: heap, external or native, not ${args.leak}`);

// What the detector and the alert rules read. Per-worker gauges keep their worker label.
const KEEP = [
  'chartd_worker_heap_post_gc_bytes',
  'chartd_worker_heap_used_bytes',
  'chartd_worker_heap_settled_bytes',
  'chartd_worker_heap_code_bytes',
  'chartd_worker_external_settled_bytes',
  'chartd_worker_external_bytes',
  'chartd_worker_resident_bytes',
  'chartd_worker_native_objects',
  'chartd_worker_native_bytes',
  'chartd_worker_renders',
  'chartd_worker_age_seconds',
  'chartd_worker_restarts_total',
  'chartd_leak_growth_ratio_per_hour',
  'chartd_leak_growth_bytes_per_hour',
  'chartd_leak_suspected',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'nodejs_heap_size_used_bytes',
  'chartd_requests_total',
];

const serveArgs = ['bin/chartd.js', 'serve', '--port', String(port), '--admin-port', String(adminPort), ...args['serve-args'].split(' ').filter(Boolean)];
const env = { ...process.env, CHARTD_LOG_LEVEL: 'warn', ...MALLOC_SETTINGS };
if (leakHook) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${new URL('../dist/test/fixtures/fault-hooks.js', import.meta.url).href}`.trim();
const server = spawn(process.execPath, serveArgs, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
const logLines = [];
// pino writes to stdout; the detector's warnings are kept in the recording.
server.stdout.setEncoding('utf8').on('data', (chunk) => logLines.push(chunk));
server.stderr.setEncoding('utf8').on('data', () => undefined);

async function waitReady() {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    try {
      const reply = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (reply.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('chartd did not get ready');
}

const TYPES = ['bar', 'line', 'pie', 'doughnut'];
let sent = 0;
let failed = 0;
function nextBody() {
  const n = sent++;
  const points = 4 + (n % 9);
  const config = {
    type: TYPES[n % TYPES.length],
    data: {
      labels: Array.from({ length: points }, (_, i) => `L${i}`),
      datasets: [{ label: `series ${n % 50}`, data: Array.from({ length: points }, (_, i) => ((i * 37 + n) % 97) + 1) }],
    },
  };
  if (leakHook && n % leakEvery === 0) config.options = { plugins: { chartdTest: { [leakHook]: leakBytes } } };
  return JSON.stringify({ chart: config, width: 400, height: 240 });
}

let running = true;
const pauseMs = Number(args.rate) > 0 ? 1000 / Number(args.rate) : 0;
async function loadLoop() {
  while (running) {
    const started = Date.now();
    try {
      const reply = await fetch(`http://127.0.0.1:${port}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: nextBody() });
      await reply.arrayBuffer();
      if (!reply.ok) failed++;
    } catch {
      failed++;
    }
    if (pauseMs) await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + pauseMs - Date.now())));
  }
}

/** Prometheus text to { 'name{labels}': value } for the KEEP families. */
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match || !KEEP.includes(match[1])) continue;
    out[`${match[1]}${match[2] ?? ''}`] = Number(match[3]);
  }
  return out;
}

await waitReady();
const started = Date.now();
const loops = Array.from({ length: Number(args.concurrency) }, loadLoop);
const series = {};
for (let next = started; next - started <= durationMs; next += intervalMs) {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  const t = Math.round((Date.now() - started) / 100) / 10;
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  for (const [key, value] of Object.entries(parseMetrics(text))) (series[key] ??= []).push([t, value]);
}
running = false;
await Promise.all(loops);
server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));

const recording = {
  recorded: {
    by: `node scripts/record-memory-series.js ${process.argv.slice(2).join(' ')}`,
    date: new Date(started).toISOString(),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    serve: `node ${serveArgs.join(' ')}`,
    load: `${args.concurrency} loops of POST /chart (400×240 bar/line/pie/doughnut)${pauseMs ? `, each at most ${args.rate}/s` : ''}`,
    leak: leakHook ? `${leakHook}: ${leakBytes} per render, every ${leakEvery}th request` : 'none',
    requests: sent,
    failed,
    intervalSeconds: Number(args.interval),
  },
  warnings: logLines
    .join('')
    .split('\n')
    .filter((line) => line.includes('memory growth'))
    .map((line) => {
      const { time, thread, signal, msg } = JSON.parse(line);
      return { seconds: Math.round((time - started) / 100) / 10, thread, signal, msg };
    }),
  series,
};
writeFileSync(args.out, `${JSON.stringify(recording)}\n`);
console.log(`${args.out}: ${sent} requests (${failed} failed), ${Object.keys(series).length} series`);
