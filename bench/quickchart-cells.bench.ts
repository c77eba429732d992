/**
 * chartd over HTTP in the cells QuickChart 1.8.1 was measured in (issue 12):
 * POST /chart of a 100-point line at 400x300, devicePixelRatio 2 (an 800x600
 * PNG), closed-loop clients, one chartd with default options started as a child
 * process. Every request is a different chart (a counter in the dataset label)
 * so the render cache cannot answer it, except in the "repeated" cell, which
 * sends one chart again and again, as e-mail and chat embeds do.
 *
 * The client is wrk (installed from Debian's packages when missing, bench/load/wrk.ts),
 * or autocannon where wrk cannot be had. With QUICKCHART_URL (a QuickChart
 * server on this machine, e.g. http://127.0.0.1:3900/) each cell is measured on
 * QuickChart and then on chartd, back to back, and the ratio is of those two;
 * without it the QuickChart column is the issue's figures, measured on a machine
 * of this kind, and ratios against them hold only on such a machine.
 *
 * chartd's CPU per request (main process and workers, from /proc) is printed
 * beside each cell, and QuickChart's with QUICKCHART_PID: where the time goes,
 * not only how many requests fit; and its workers' GC pauses and full
 * collections per request, from chartd_worker_gc_* on the admin /metrics.
 *
 * The VM this was written on switches between two speeds about 2x apart, every
 * 10-30 s (two idle chartd servers measured in turns switched together), so with
 * QuickChart each cell runs in BENCH_ROUNDS short rounds (default 7 of 3 s),
 * QuickChart and chartd back to back in each, in alternating order; the table
 * gives the medians, and the ratio is the median of the rounds' ratios.
 *
 * Knobs: BENCH_SECONDS (per cell and round, default 10, or 3 with QuickChart),
 * BENCH_ROUNDS, QUICKCHART_URL, QUICKCHART_PID, BENCH_CLIENT=autocannon.
 * Run: npm run bench:cells
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadAutocannon, type AutocannonRequest } from './load/autocannon.js';
import { createRenderJob, renderJob, type RenderRequest } from '../src/index.js';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';
import { spawnServer } from './load/server-process.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';
import { ProcessTree } from './load/process-tree.js';
import { ensureWrk, runWrk } from './load/wrk.js';
import { readProcessUsage } from '../src/pool/process-usage.js';

const REPO_ROOT = new URL('../..', import.meta.url).pathname;

function series(points: number, phase = 0): number[] {
  return Array.from({ length: points }, (_, i) => Math.round(50 + 30 * Math.sin(i / 12 + phase) + ((i * 7) % 10)));
}

function lineRequest(points: number, datasets: number): RenderRequest {
  return {
    width: 400,
    height: 300,
    devicePixelRatio: 2,
    chart: {
      type: 'line',
      data: {
        labels: series(points).map((_, i) => i),
        datasets: Array.from({ length: datasets }, (_, k) => ({ label: `series ${k}`, data: series(points, k), fill: false, ...(points > 500 ? { pointRadius: 0 } : {}) })),
      },
    },
  };
}

interface Cell {
  name: string;
  request: RenderRequest;
  connections: number;
  repeated?: boolean;
  /** QuickChart 1.8.1 in the same cell (issue 12): requests/s and p99 ms. */
  quickchart?: { rps: number; p99: number };
}

const LINE = lineRequest(100, 1);
const CELLS: Cell[] = [
  { name: 'PNG', request: LINE, connections: 1, quickchart: { rps: 40.2, p99: 46 } },
  { name: 'PNG', request: LINE, connections: 4, quickchart: { rps: 79.2, p99: 86 } },
  { name: 'PNG', request: LINE, connections: 16, quickchart: { rps: 81.6, p99: 325 } },
  { name: 'PNG, devicePixelRatio 1', request: { ...LINE, devicePixelRatio: 1 }, connections: 4, quickchart: { rps: 146.0, p99: 80 } },
  { name: '3 x 2,000 points', request: { ...lineRequest(2000, 3), width: 1000, height: 600, devicePixelRatio: 1 }, connections: 4, quickchart: { rps: 5.2, p99: 1110 } },
  { name: 'SVG', request: { ...LINE, format: 'svg' }, connections: 4, quickchart: { rps: 160.5, p99: 48 } },
  { name: 'WebP', request: { ...LINE, format: 'webp' }, connections: 4 },
  { name: 'JPEG', request: { ...LINE, format: 'jpeg' }, connections: 4 },
  // QuickChart renders every request: repeated ones cost it what unique ones do.
  { name: 'PNG, repeated (render cache)', request: LINE, connections: 4, repeated: true, quickchart: { rps: 79.2, p99: 86 } },
];

/** Each unique request puts its own id and number right after this, in the dataset label. */
const UNIQUE_MARKER = '"series 0';

/** The request body with a marker where each request puts its own number. */
function bodyTemplate(request: RenderRequest): [before: string, after: string] {
  const text = JSON.stringify(request);
  const at = text.indexOf(UNIQUE_MARKER) + UNIQUE_MARKER.length;
  return [text.slice(0, at), text.slice(at)];
}

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  bytes: number;
  /** CPU milliseconds per request of the server's process tree, when its pid is known. */
  cpuMs: number | undefined;
  /** chartd's workers: GC pause milliseconds and full collections per request (chartd_worker_gc_*). */
  gcPauseMs?: number | undefined;
  majorGcs?: number | undefined;
}

interface GcReading {
  pauseSeconds: number;
  majors: number;
}

/** The workers' GC totals, all slots and kinds, from chartd's admin /metrics. */
async function readWorkerGc(adminUrl: URL): Promise<GcReading> {
  const text = await (await fetch(new URL('metrics', adminUrl))).text();
  let pauseSeconds = 0;
  let majors = 0;
  for (const [, family, kind, value] of text.matchAll(/^chartd_worker_gc_(pause_seconds_total|total)\{worker="\d+",kind="(\w+)"\} (\S+)$/gm)) {
    if (family === 'pause_seconds_total') pauseSeconds += Number(value);
    else if (kind === 'major') majors += Number(value);
  }
  return { pauseSeconds, majors };
}

const QUICKCHART_URL = process.env.QUICKCHART_URL ? new URL('chart', process.env.QUICKCHART_URL).href : undefined;
const QUICKCHART_PID = process.env.QUICKCHART_PID ? Number(process.env.QUICKCHART_PID) : undefined;
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICKCHART_URL ? 3 : 10));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? (QUICKCHART_URL ? 7 : 1)));
/** BENCH_CELLS="PNG@4,WebP@4" runs only those cells (name@concurrency, case-insensitive). */
const ONLY = process.env.BENCH_CELLS?.toLowerCase().split(',').map((entry) => entry.trim());
const SELECTED = CELLS.filter((cell) => !ONLY || ONLY.includes(`${cell.name}@${cell.connections}`.toLowerCase()));
if (SELECTED.length === 0) throw new Error(`BENCH_CELLS matches no cell; cells are ${CELLS.map((cell) => `${cell.name}@${cell.connections}`).join(', ')}`);
const USE_WRK = process.env.BENCH_CLIENT !== 'autocannon' && ensureWrk();

async function runCell(url: string, cell: Cell, pid: number | undefined, adminUrl?: URL): Promise<Measured> {
  const tree = pid === undefined ? undefined : new ProcessTree(pid);
  const cpuBefore = tree ? await treeCpuMs(tree) : 0;
  const gcBefore = adminUrl ? await readWorkerGc(adminUrl) : undefined;
  const load = USE_WRK ? await loadWithWrk(url, cell) : await loadWithAutocannon(url, cell);
  const cpuMs = tree && load.requests > 0 ? ((await treeCpuMs(tree)) - cpuBefore) / load.requests : undefined;
  if (!adminUrl || !gcBefore || load.requests === 0) return { ...load, cpuMs };
  const gcAfter = await readWorkerGc(adminUrl);
  return {
    ...load,
    cpuMs,
    gcPauseMs: ((gcAfter.pauseSeconds - gcBefore.pauseSeconds) * 1000) / load.requests,
    majorGcs: (gcAfter.majors - gcBefore.majors) / load.requests,
  };
}

async function loadWithWrk(url: string, cell: Cell): Promise<Omit<Measured, 'cpuMs'> & { requests: number }> {
  const result = await runWrk({
    url,
    body: JSON.stringify(cell.request),
    connections: cell.connections,
    seconds: SECONDS,
    ...(cell.repeated ? {} : { uniqueMarker: UNIQUE_MARKER }),
  });
  return { rps: result.rps, p50: result.p50, p99: result.p99, errors: result.errors, bytes: result.bytesPerResponse, requests: result.requests };
}

async function loadWithAutocannon(url: string, cell: Cell): Promise<Omit<Measured, 'cpuMs'> & { requests: number }> {
  const [before, after] = bodyTemplate(cell.request);
  // A new id for every run: cells share a chart, and a number that started again would repeat the bodies an earlier cell had cached.
  const run = randomUUID();
  let counter = 0;
  const result = await loadAutocannon()({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: cell.connections,
    duration: SECONDS,
    ...(cell.repeated
      ? { body: before + after }
      : { requests: [{ setupRequest: (request: AutocannonRequest) => ({ ...request, body: `${before} ${run} #${counter++}${after}` }) }] }),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
    bytes: result.requests.total > 0 ? Math.round(result.throughput.total / result.requests.total) : 0,
    requests: result.requests.total,
  };
}

/** User and system CPU of a process and its children so far, milliseconds. */
async function treeCpuMs(tree: ProcessTree): Promise<number> {
  let seconds = 0;
  for (const pid of [tree.pid, ...(await tree.children(true))]) seconds += readProcessUsage(pid)?.cpuSeconds ?? 0;
  return seconds * 1000;
}

function median(values: number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Each figure the median of the rounds'; errors summed. */
function medianOf(results: Measured[]): Measured {
  const cpu = results.map((r) => r.cpuMs).filter((value): value is number => value !== undefined);
  return {
    rps: median(results.map((r) => r.rps)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    bytes: Math.round(median(results.map((r) => r.bytes))),
    cpuMs: cpu.length ? median(cpu) : undefined,
    gcPauseMs: medianOrUndefined(results.map((r) => r.gcPauseMs)),
    majorGcs: medianOrUndefined(results.map((r) => r.majorGcs)),
  };
}

function medianOrUndefined(values: Array<number | undefined>): number | undefined {
  const known = values.filter((value): value is number => value !== undefined);
  return known.length ? median(known) : undefined;
}

/** One thread, the library's whole render path: the floor an HTTP request is compared with. */
async function inProcessMs(request: RenderRequest): Promise<number> {
  for (let i = 0; i < 10; i++) await renderJob(createRenderJob(request));
  const times: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until) {
    const start = performance.now();
    await renderJob(createRenderJob(request));
    times.push(performance.now() - start);
  }
  return percentileOf(times, 50);
}

const client = USE_WRK ? 'wrk (1 thread)' : 'autocannon';
const against = QUICKCHART_URL ? `QuickChart at ${QUICKCHART_URL}, measured in the same run, cell by cell, alternating with chartd` : "QuickChart's figures from issue 12";
console.log(`chartd against QuickChart's cells: ${describeMachine()}; chartd with default options (2 workers, render cache on), ${client}, ${SECONDS} s per cell${ROUNDS > 1 ? ` and round, ${ROUNDS} rounds` : ''}; ${against}\n`);
const floorMs = await inProcessMs(LINE);
const server = await spawnServer({
  args: [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0'],
  env: { ...process.env, ...MALLOC_SETTINGS },
  logFile: join(REPO_ROOT, 'bench', 'out', 'quickchart-cells-server.log'),
});
const rows: Array<Array<string | number>> = [];
/** The c=1 PNG cell's rounds: chartd's p50 over HTTP and the in-process p50 measured right after it. */
const overheadRounds: Array<{ http: number; floor: number }> = [];
const format = (value: number | undefined, digits = 1) => (value === undefined || Number.isNaN(value) ? '' : value.toFixed(digits));
try {
  for (const cell of SELECTED) {
    // QuickChart 1.8 answers webp and jpeg with a PNG: only the cells it was measured in are compared.
    const compare = QUICKCHART_URL !== undefined && cell.quickchart !== undefined;
    const rounds: Array<{ quickchart: Measured | undefined; chartd: Measured }> = [];
    // The HTTP overhead at concurrency 1 is a ratio to the in-process floor, and this VM
    // changes speed by the minute: each round measures its own floor next to chartd's turn.
    const overheadCell = cell.name === 'PNG' && cell.connections === 1 && !cell.repeated;
    for (let round = 0; round < ROUNDS; round++) {
      const onQuickChart = async () => (compare ? await runCell(QUICKCHART_URL!, cell, QUICKCHART_PID) : undefined);
      const onChartd = async () => {
        const measured = await runCell(new URL('chart', server.url).href, cell, server.pid, server.adminUrl);
        if (overheadCell) overheadRounds.push({ http: measured.p50, floor: await inProcessMs(cell.request) });
        return measured;
      };
      if (round % 2 === 0) {
        const quickchart = await onQuickChart();
        rounds.push({ quickchart, chartd: await onChartd() });
      } else {
        const chartd = await onChartd();
        rounds.push({ quickchart: await onQuickChart(), chartd });
      }
    }
    const measured = medianOf(rounds.map((r) => r.chartd));
    const quickchart = compare ? medianOf(rounds.map((r) => r.quickchart!)) : undefined;
    const baseline = quickchart ? { rps: quickchart.rps, p99: quickchart.p99 } : cell.quickchart;
    const ratio = compare ? median(rounds.map((r) => r.chartd.rps / r.quickchart!.rps)) : baseline ? measured.rps / baseline.rps : undefined;
    rows.push([
      cell.name,
      cell.connections,
      format(baseline?.rps),
      format(measured.rps),
      ratio === undefined ? '' : `${ratio.toFixed(2)}x${compare && ROUNDS > 1 ? ` (${rounds.map((r) => (r.chartd.rps / r.quickchart!.rps).toFixed(2)).join(', ')})` : ''}`,
      format(baseline?.p99, 0),
      format(measured.p99, 0),
      format(quickchart?.cpuMs, 2),
      format(measured.cpuMs, 2),
      format(measured.gcPauseMs, 2),
      format(measured.majorGcs === undefined ? undefined : measured.majorGcs * 100, 1),
      measured.errors + (quickchart?.errors ?? 0),
      quickchart ? `${quickchart.bytes} / ${measured.bytes}` : measured.bytes,
    ]);
  }
} finally {
  await server.stop();
}
printTable(
  ['cell', 'concurrency', 'QuickChart req/s', 'chartd req/s', 'ratio', 'QC p99 ms', 'chartd p99 ms', 'QC CPU ms/req', 'chartd CPU ms/req', 'chartd GC pause ms/req', 'chartd full GCs/100 req', 'errors', 'bytes/response'],
  rows,
);
console.log(`\nIn process, one thread, the same PNG: p50 ${floorMs.toFixed(2)} ms per render`);
if (overheadRounds.length > 0) {
  const ratios = overheadRounds.map((r) => r.http / r.floor);
  const each = overheadRounds.map((r) => `${r.http.toFixed(1)}/${r.floor.toFixed(1)}`).join(', ');
  console.log(`Over HTTP at concurrency 1 against in process, each round's floor measured right after it: ${median(ratios).toFixed(2)}x (median; p50 ms HTTP/in process: ${each})`);
}
