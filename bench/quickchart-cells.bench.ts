/**
 * chartd over HTTP in the cells QuickChart 1.8.1 was measured in (issue 12):
 * POST /chart of a 100-point line at 400x300, devicePixelRatio 2 (an 800x600
 * PNG), closed-loop autocannon, one chartd with default options started as a
 * child process. Every request is a different chart (a counter in the dataset
 * label) so the render cache cannot answer it, except in the "repeated" cell,
 * which sends one chart again and again, as e-mail and chat embeds do.
 *
 * QuickChart cannot be installed here (its node-canvas build downloads binaries),
 * so its column is the figures, measured back to back on a machine of
 * this kind; ratios against them hold only on such a machine.
 *
 * Knobs: BENCH_SECONDS (per cell, default 10). Run: npm run bench:cells
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadAutocannon, type AutocannonRequest } from './load/autocannon.js';
import { createRenderJob, renderJob, type RenderRequest } from '../src/index.js';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';
import { spawnServer } from './load/server-process.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
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

/** The request body with a marker where each request puts its own number. */
function bodyTemplate(request: RenderRequest): [before: string, after: string] {
  const text = JSON.stringify(request);
  const at = text.indexOf('"series 0"') + '"series 0'.length;
  return [text.slice(0, at), text.slice(at)];
}

async function runCell(url: string, cell: Cell): Promise<{ rps: number; p50: number; p99: number; errors: number; bytes: number }> {
  const [before, after] = bodyTemplate(cell.request);
  let counter = 0;
  const result = await loadAutocannon()({
    url: `${url}chart`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: cell.connections,
    duration: SECONDS,
    ...(cell.repeated
      ? { body: before + after }
      : { requests: [{ setupRequest: (request: AutocannonRequest) => ({ ...request, body: `${before} #${counter++}${after}` }) }] }),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
    bytes: result.requests.total > 0 ? Math.round(result.throughput.total / result.requests.total) : 0,
  };
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

console.log(`chartd against QuickChart's cells: ${describeMachine()}; chartd with default options (2 workers, render cache on), ${SECONDS} s per cell\n`);
const floorMs = await inProcessMs(LINE);
const server = await spawnServer({
  args: [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0'],
  env: { ...process.env, ...MALLOC_SETTINGS },
  logFile: join(REPO_ROOT, 'bench', 'out', 'quickchart-cells-server.log'),
});
const rows: Array<Array<string | number>> = [];
let concurrencyOneP50 = 0;
try {
  for (const cell of CELLS) {
    const measured = await runCell(server.url.href, cell);
    if (cell.name === 'PNG' && cell.connections === 1) concurrencyOneP50 = measured.p50;
    rows.push([
      cell.name,
      cell.connections,
      cell.quickchart?.rps ?? '',
      measured.rps.toFixed(1),
      cell.quickchart ? `${(measured.rps / cell.quickchart.rps).toFixed(2)}x` : '',
      cell.quickchart?.p99 ?? '',
      measured.p99,
      measured.errors,
      measured.bytes,
    ]);
  }
} finally {
  await server.stop();
}
printTable(['cell', 'concurrency', 'QuickChart req/s', 'chartd req/s', 'ratio', 'QC p99 ms', 'chartd p99 ms', 'errors', 'bytes/response'], rows);
console.log(`\nIn process, one thread, the same PNG: p50 ${floorMs.toFixed(2)} ms per render; over HTTP at concurrency 1: p50 ${concurrencyOneP50} ms (${(concurrencyOneP50 / floorMs).toFixed(2)}x)`);
