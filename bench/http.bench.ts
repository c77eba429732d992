/**
 * HTTP throughput (issue 3): autocannon against a chartd started as a child
 * process, for the render-core scenarios at several concurrencies, next to the
 * in-process render throughput measured in the same run (the pool's overhead).
 * Every request is a different body, so chartd's render cache never answers one
 * (bench:cells measures repeated requests).
 * Knobs: BENCH_SECONDS (per cell, default 5), BENCH_WORKERS (default 2),
 * BENCH_CONCURRENCY (default "1,4,16"), BENCH_FORMAT (default png).
 * Run: npm run bench:http
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { loadAutocannon, type AutocannonRequest } from './load/autocannon.js';
import { createRenderJob, renderJob } from '../src/index.js';
import { describeMachine, printTable } from './machine.js';
import { SCENARIOS } from './scenarios.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,4,16').split(',').map(Number);
const FORMAT = process.env.BENCH_FORMAT ?? 'png';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function startChartd(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['bin/chartd.js', 'serve', '--port', String(port), '--admin-port', '0', '--workers', String(WORKERS), '--queue', '256', '--log-level', 'warn'], {
    env: { ...process.env, ...MALLOC_SETTINGS },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function inProcessRendersPerSecond(request: (typeof SCENARIOS)[number]['request']): Promise<number> {
  for (let i = 0; i < 5; i++) await renderJob(createRenderJob({ ...request, format: FORMAT }));
  let count = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await renderJob(createRenderJob({ ...request, format: FORMAT }));
    count++;
  }
  return count / ((performance.now() - start) / 1000);
}

console.log(`chartd HTTP benchmark: ${describeMachine()}; ${WORKERS} workers, ${SECONDS} s per cell, format ${FORMAT}\n`);
const rows: Array<Array<string | number>> = [];
const chartd = await startChartd();
try {
  for (const scenario of SCENARIOS) {
    const single = await inProcessRendersPerSecond(scenario.request);
    // Each request a different chart (a counter in a field chartd ignores), so the render cache cannot answer it.
    const body = JSON.stringify({ ...scenario.request, format: FORMAT, ref: '' });
    let counter = 0;
    for (const connections of CONCURRENCY) {
      const result = await loadAutocannon()({
        url: `${chartd.url}/chart`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: [{ setupRequest: (request: AutocannonRequest) => ({ ...request, body: body.replace('"ref":""', `"ref":"${counter++}"`) }) }],
        connections,
        duration: SECONDS,
      });
      const rate = result.requests.average;
      rows.push([
        scenario.name,
        connections,
        rate.toFixed(1),
        result.latency.p50,
        result.latency.p99,
        result.errors + result.non2xx,
        single.toFixed(1),
        (rate / single).toFixed(2),
        (rate / (single * Math.min(WORKERS, connections))).toFixed(2),
      ]);
    }
  }
} finally {
  await chartd.stop();
}
printTable(
  ['scenario', 'concurrency', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'in-process renders/s (1 thread)', 'req/s ÷ in-process', 'efficiency vs min(workers, c) threads'],
  rows,
);
