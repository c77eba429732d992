/**
 * What a render worker costs: for --workers 1, 2 and 4, the time from start to
 * ready, the memory of the whole process tree idle and after a load (RSS, and
 * PSS, which counts shared pages once), the memory each further worker adds, and
 * how long a killed worker takes to be replaced.
 * `--root DIR` measures another checkout (built), e.g. an older commit in a git
 * worktree, so two designs are compared in one run on one machine.
 * Knobs: BENCH_WORKERS (default "1,2,4"), BENCH_REQUESTS (per cell, default 400).
 * Run: npm run bench:workers [-- --root DIR]
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { describeMachine, printTable } from './machine.js';
import { REPO_ROOT } from './load/paths.js';
import { ProcessTree, readTreePss } from './load/process-tree.js';
import { spawnServer } from './load/server-process.js';
import { SCENARIOS } from './scenarios.js';
import { percentileOf } from './load/stats.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const { values } = parseArgs({ options: { root: { type: 'string' } } });
const ROOT = values.root ?? REPO_ROOT;
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const MB = 1024 * 1024;
const body = JSON.stringify({ ...SCENARIOS[0]!.request, format: 'png' });

interface Cell {
  workers: number;
  readyMs: number;
  idleTreeMb: number;
  idleMainMb: number;
  loadedTreeMb: number;
  loadedPssMb: number;
  replaceMs: number | undefined;
}

async function medianRss(tree: ProcessTree, reads = 10): Promise<{ tree: number; main: number }> {
  const trees: number[] = [];
  const mains: number[] = [];
  await tree.children(true);
  for (let i = 0; i < reads; i++) {
    const rss = await tree.rss();
    if (rss) {
      trees.push(rss.treeBytes);
      mains.push(rss.mainBytes);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { tree: percentileOf(trees, 50) || 0, main: percentileOf(mains, 50) || 0 };
}

async function waitReady(url: URL, timeoutMs = 60_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    try {
      if ((await fetch(new URL('/readyz', url))).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('chartd did not become ready');
}

/** Kills worker 0 through the admin port and times until a new worker holds slot 0, idle. */
async function timeReplacement(adminUrl: URL): Promise<number | undefined> {
  type Resources = { workers: Array<{ worker: number; workerId: number; state: string }> };
  const read = async () => ((await (await fetch(new URL('/debug/resources', adminUrl))).json()) as Resources).workers;
  const before = (await read()).find((worker) => worker.worker === 0)?.workerId;
  const started = performance.now();
  const response = await fetch(new URL('/debug/workers/0/terminate', adminUrl), { method: 'POST' });
  if (response.status !== 202) return undefined;
  while (performance.now() - started < 30_000) {
    const slot = (await read()).find((worker) => worker.worker === 0);
    if (slot && slot.workerId !== before && slot.state === 'idle') return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return undefined;
}

async function measure(workers: number): Promise<Cell> {
  const started = performance.now();
  const server = await spawnServer({
    args: [join(ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', String(workers), '--queue', '256', '--log-level', 'info'],
    env: { ...process.env, ...MALLOC_SETTINGS },
    logFile: '/dev/null',
  });
  try {
    await waitReady(server.url);
    const readyMs = performance.now() - started;
    const tree = new ProcessTree(server.pid);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const idle = await medianRss(tree);
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next++ < REQUESTS) {
          const response = await fetch(new URL('/chart', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await response.arrayBuffer();
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loaded = await medianRss(tree);
    const pss = (await readTreePss(tree)) ?? 0;
    const replaceMs = server.adminUrl ? await timeReplacement(server.adminUrl) : undefined;
    return { workers, readyMs, idleTreeMb: idle.tree / MB, idleMainMb: idle.main / MB, loadedTreeMb: loaded.tree / MB, loadedPssMb: pss / MB, replaceMs };
  } finally {
    await server.stop();
  }
}

console.log(`chartd workers benchmark: ${describeMachine()}; ${ROOT}; ${REQUESTS} PNG renders per cell\n`);
const cells: Cell[] = [];
for (const workers of WORKER_COUNTS) cells.push(await measure(workers));
const first = cells[0]!;
printTable(
  [
    'workers',
    'start to ready ms',
    'idle RSS, tree MB',
    'idle RSS, main process MB',
    `RSS after ${REQUESTS} renders, tree MB`,
    'each further worker, RSS MB',
    'PSS after, tree MB',
    'each further worker, PSS MB',
    'killed worker replaced in ms',
  ],
  cells.map((cell) => [
    cell.workers,
    cell.readyMs.toFixed(0),
    cell.idleTreeMb.toFixed(0),
    cell.idleMainMb.toFixed(0),
    cell.loadedTreeMb.toFixed(0),
    cell.workers === first.workers ? '-' : ((cell.loadedTreeMb - first.loadedTreeMb) / (cell.workers - first.workers)).toFixed(0),
    cell.loadedPssMb.toFixed(0),
    cell.workers === first.workers ? '-' : ((cell.loadedPssMb - first.loadedPssMb) / (cell.workers - first.workers)).toFixed(0),
    cell.replaceMs === undefined ? '-' : cell.replaceMs.toFixed(0),
  ]),
);
