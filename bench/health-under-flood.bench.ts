/**
 * Does a flood of large configs that are refused anyway starve the event loop
 * that answers health checks? 16 clients post ~600 KB JavaScript-literal configs
 * (refused for their point count after parsing) while a probe asks /healthz every
 * 20 ms; the table gives the probe's latency and the flood's rate. `--root DIR`
 * measures another checkout (built) in the same run.
 * Knobs: BENCH_SECONDS (default 10), BENCH_CLIENTS (default 16).
 * Run: npm run bench:health [-- --root DIR]
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';
import { REPO_ROOT } from './load/paths.js';
import { spawnServer } from './load/server-process.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const { values } = parseArgs({ options: { root: { type: 'string', multiple: true } } });
const ROOTS = values.root?.length ? values.root : [REPO_ROOT];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const body = JSON.stringify({ chart: `{type:'line',data:{datasets:[{data:[${'1,'.repeat(300_000)}1]}]}}` });

async function measure(root: string): Promise<Array<string | number>> {
  const server = await spawnServer({
    args: [join(root, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', '2', '--log-level', 'info'],
    env: { ...process.env, ...MALLOC_SETTINGS },
    logFile: '/dev/null',
  });
  try {
    for (let i = 0; i < 100 && !(await fetch(new URL('/readyz', server.url)).then((r) => r.ok, () => false)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const until = performance.now() + SECONDS * 1000;
    const statuses = new Map<number, number>();
    const flood = Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        const response = await fetch(new URL('/chart', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    });
    const probes: number[] = [];
    const probe = (async () => {
      while (performance.now() < until) {
        const started = performance.now();
        await (await fetch(new URL('/healthz', server.url))).arrayBuffer();
        probes.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await Promise.all([...flood, probe]);
    const flooded = [...statuses.values()].reduce((a, b) => a + b, 0);
    return [
      root,
      probes.length,
      percentileOf(probes, 50).toFixed(1),
      percentileOf(probes, 99).toFixed(1),
      probes.at(-1)!.toFixed(1),
      (flooded / SECONDS).toFixed(1),
      [...statuses].map(([status, count]) => `${count}× ${status}`).join(', '),
    ];
  } finally {
    await server.stop();
  }
}

console.log(`chartd health under a flood: ${describeMachine()}; ${CLIENTS} clients posting ${(body.length / 1024).toFixed(0)} KB refused configs, ${SECONDS} s\n`);
const rows: Array<Array<string | number>> = [];
for (const root of ROOTS) rows.push(await measure(root));
printTable(['checkout', '/healthz probes', 'p50 ms', 'p99 ms', 'max ms', 'flood req/s', 'flood answers'], rows);
