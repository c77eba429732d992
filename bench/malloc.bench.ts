/**
 * glibc's malloc thresholds against render cost and memory return (issue 12):
 * each setting in a fresh process (glibc reads them at start), interleaved over
 * rounds, running the library's render path on QuickChart's cell chart (a
 * 100-point line, 400x300 at devicePixelRatio 2: an 800x600 PNG). Reports CPU
 * per render (user and system: what page faults cost shows in system time),
 * minor page faults per render, and resident memory before, at the peak of and
 * after two large renders (a 9 MB and a 64 MB canvas) followed by small ones.
 * Knobs: BENCH_RENDERS (per process, default 300), BENCH_ROUNDS (default 3).
 * Run: npm run bench:malloc
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRenderJob, renderJob } from '../src/index.js';
import { describeMachine, printTable } from './machine.js';

const RENDERS = Number(process.env.BENCH_RENDERS ?? 300);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const MIB = 1024 * 1024;

const SETTINGS: ReadonlyArray<{ name: string; env: Record<string, string> }> = [
  { name: 'trim 1 MiB, mmap 1 MiB (chartd before)', env: { MALLOC_TRIM_THRESHOLD_: String(MIB), MALLOC_MMAP_THRESHOLD_: String(MIB) } },
  { name: 'trim 4 MiB, mmap 4 MiB (chartd now)', env: { MALLOC_TRIM_THRESHOLD_: String(4 * MIB), MALLOC_MMAP_THRESHOLD_: String(4 * MIB) } },
  { name: 'trim 16 MiB, mmap 8 MiB', env: { MALLOC_TRIM_THRESHOLD_: String(16 * MIB), MALLOC_MMAP_THRESHOLD_: String(8 * MIB) } },
  { name: "glibc's defaults (dynamic)", env: {} },
];

interface Sample {
  cpuMs: number;
  sysMs: number;
  faults: number;
  rssMb: number;
  peakMb: number;
  afterMb: number;
}

function cellRequest(seed: number, size: { width: number; height: number; devicePixelRatio: number } = { width: 400, height: 300, devicePixelRatio: 2 }) {
  const data = Array.from({ length: 100 }, (_, k) => Math.round(50 + 40 * Math.sin((k + seed) / 7)));
  return { ...size, format: 'png' as const, chart: { type: 'line', data: { labels: data.map((_, k) => k), datasets: [{ label: `series ${seed}`, data }] } } };
}

/** In the child: the measurement itself, printed as one JSON line. */
async function measure(): Promise<void> {
  for (let i = 0; i < 30; i++) await renderJob(createRenderJob(cellRequest(i)));
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < RENDERS; i++) await renderJob(createRenderJob(cellRequest(100 + i)));
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  const rss = process.memoryUsage().rss;
  await renderJob(createRenderJob(cellRequest(1, { width: 1500, height: 1500, devicePixelRatio: 1 })));
  await renderJob(createRenderJob(cellRequest(2, { width: 2000, height: 2000, devicePixelRatio: 2 })));
  const peak = process.memoryUsage().rss;
  for (let i = 0; i < 30; i++) await renderJob(createRenderJob(cellRequest(i)));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sample: Sample = {
    cpuMs: (cpu.user + cpu.system) / 1000 / RENDERS,
    sysMs: cpu.system / 1000 / RENDERS,
    faults: faults / RENDERS,
    rssMb: rss / MIB,
    peakMb: peak / MIB,
    afterMb: process.memoryUsage().rss / MIB,
  };
  console.log(JSON.stringify(sample));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function main(): void {
  console.log(`# glibc's malloc thresholds: ${describeMachine()}; ${RENDERS} renders per process, ${ROUNDS} rounds, medians`);
  const samples = new Map<string, Sample[]>(SETTINGS.map((setting) => [setting.name, []]));
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < ROUNDS; round++) {
    for (const setting of SETTINGS) {
      const env: NodeJS.ProcessEnv = { ...process.env, BENCH_MALLOC_CHILD: '1' };
      delete env.MALLOC_TRIM_THRESHOLD_;
      delete env.MALLOC_MMAP_THRESHOLD_;
      const child = spawnSync(process.execPath, [self], { env: { ...env, ...setting.env }, encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`${setting.name}: ${child.stderr}`);
      samples.get(setting.name)!.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Sample);
    }
  }
  const rows = SETTINGS.map(({ name }) => {
    const of = (key: keyof Sample) => median(samples.get(name)!.map((sample) => sample[key]));
    return [name, of('cpuMs').toFixed(2), of('sysMs').toFixed(2), Math.round(of('faults')), Math.round(of('rssMb')), Math.round(of('peakMb')), Math.round(of('afterMb'))];
  });
  printTable(['setting', 'CPU ms/render', 'of it system', 'page faults/render', 'RSS MB', 'RSS after 2 large MB', 'RSS after, settled MB'], rows);
}

if (process.env.BENCH_MALLOC_CHILD) await measure();
else main();
