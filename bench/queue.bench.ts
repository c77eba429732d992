/**
 * The queue bound under overload: more clients than workers and queue places
 * together, each posting as fast as it is answered. For each --queue value: the
 * rate of rendered charts, the latency of the accepted ones (p50, p99), and the
 * share shed at once with 503 QUEUE_FULL. A longer queue sheds less and makes
 * every accepted client wait longer. Knobs: BENCH_QUEUES (default "8,16,32,64"),
 * BENCH_CLIENTS (default 48), BENCH_SECONDS (default 8), BENCH_WORKERS (default 2).
 * Run: npm run bench:queue
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';
import { REPO_ROOT } from './load/paths.js';
import { spawnServer } from './load/server-process.js';
import { SCENARIOS } from './scenarios.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const QUEUES = (process.env.BENCH_QUEUES ?? '8,16,32,64').split(',').map(Number);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 48);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const body = JSON.stringify({ ...SCENARIOS[0]!.request, devicePixelRatio: 2, format: 'png' });

async function measure(queue: number): Promise<Array<string | number>> {
  const server = await spawnServer({
    args: [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', String(WORKERS), '--queue', String(queue), '--client-budget', '0', '--log-level', 'info'],
    env: { ...process.env, ...MALLOC_SETTINGS },
    logFile: '/dev/null',
  });
  try {
    while (!(await fetch(new URL('/readyz', server.url)).then((r) => r.ok, () => false))) await new Promise((resolve) => setTimeout(resolve, 50));
    const accepted: number[] = [];
    let shed = 0;
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const response = await fetch(new URL('/chart', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await response.arrayBuffer();
          if (response.status === 200) accepted.push(performance.now() - started);
          else if (response.status === 503) {
            shed++;
            await new Promise((resolve) => setTimeout(resolve, 50)); // a polite client backs off a little
          }
        }
      }),
    );
    return [queue, (accepted.length / SECONDS).toFixed(1), percentileOf(accepted, 50).toFixed(0), percentileOf(accepted, 99).toFixed(0), `${((100 * shed) / (shed + accepted.length)).toFixed(0)} %`];
  } finally {
    await server.stop();
  }
}

console.log(`chartd queue bound under overload: ${describeMachine()}; ${WORKERS} workers, ${CLIENTS} closed-loop clients, ${SECONDS} s per cell, 800x600 PNG line\n`);
const rows: Array<Array<string | number>> = [];
for (const queue of QUEUES) rows.push(await measure(queue));
printTable(['--queue', 'rendered/s', 'accepted p50 ms', 'accepted p99 ms', 'shed with 503'], rows);
