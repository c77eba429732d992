/**
 * The same load against three servers, one after the other, in one run:
 *  (a) Chart.js 4 + @napi-rs/canvas in a plain node:http handler, no chart.destroy();
 *  (b) the same with chart.destroy();
 *  (c) chartd (worker pool, --workers 2), Chart.js 4 pinned with v=4 so all three draw alike.
 * Prints a table (throughput, p99, RSS slope per 1,000 requests) and writes one PNG
 * with the three RSS curves over requests, rendered by chartd's renderChart.
 * Run: npm run bench:compare -- [--requests N] [--concurrency C] [--rss-cap-mb MB]
 */
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, printTable } from './machine.js';
import { readDocumentedCodes } from './load/documented-codes.js';
import { runLoad } from './load/load-driver.js';
import { MemorySampler, samplesToCsv, type Sample } from './load/memory-sampler.js';
import { defaultOutDir, REPO_ROOT } from './load/paths.js';
import { formatDuration, Progress } from './load/progress.js';
import { Recorder } from './load/recorder.js';
import { renderRssOverRequests } from './load/report-png.js';
import { RequestMix } from './load/request-mix.js';
import { spawnServer } from './load/server-process.js';
import { MB } from './load/stats.js';
import { roundTo } from '../src/values.js';
import { outcomeTable, summarizeLatency, summarizeMemory } from './load/summary.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

const DEFAULTS = {
  requests: 2_000, // per server
  concurrency: 4, // requests in flight
  workers: 2, // chartd workers
  // (a) grows by about 1 GB per 1,000 requests of this mix: stop it before it
  // takes the machine down; its slope is measured on what it did.
  rssCapMb: 6_144, // MB
  seed: 7,
};

const HELP = `Usage: npm run bench:compare -- [options]

Runs the same load (valid charts only: the render-core scenarios at their own
size and at half size, png/webp/jpeg, GET and POST, Chart.js 4) against
  (a) bench/baselines/chartjs-no-destroy.ts, (b) bench/baselines/chartjs-destroy.ts,
  (c) chartd --workers ${DEFAULTS.workers},
one after the other; writes bench/out/compare-<date>/ (compare.png, table.md,
summary.json, samples-*.csv) and prints its path.

  --requests N       requests per server (default ${DEFAULTS.requests})
  --concurrency C    requests in flight (default ${DEFAULTS.concurrency})
  --workers N        chartd workers (default ${DEFAULTS.workers})
  --rss-cap-mb MB    stop a server's run when its RSS passes this (default ${DEFAULTS.rssCapMb})
  --out DIR          output directory
  --help             this text
`;

interface Target {
  id: string;
  label: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

interface TargetResult {
  target: Target;
  samples: Sample[];
  recorder: Recorder;
  durationSeconds: number;
  stoppedAtCap: boolean;
  exit: string;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      'rss-cap-mb': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const positive = (text: string | undefined, fallback: number, name: string) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got "${text}"`);
    return value;
  };
  const requests = positive(values.requests, DEFAULTS.requests, 'requests');
  const concurrency = positive(values.concurrency, DEFAULTS.concurrency, 'concurrency');
  const workers = positive(values.workers, DEFAULTS.workers, 'workers');
  const rssCapBytes = positive(values['rss-cap-mb'], DEFAULTS.rssCapMb, 'rss-cap-mb') * MB;
  const out = values.out ?? defaultOutDir('compare');
  await mkdir(out, { recursive: true });
  const machine = describeMachine();
  console.log(`chartd comparison: ${machine}; ${requests.toLocaleString('en-US')} requests per server, concurrency ${concurrency}\n`);

  const baselines = join(REPO_ROOT, 'dist', 'bench', 'baselines');
  const targets: Target[] = [
    { id: 'no-destroy', label: '(a) Chart.js + node:http, no destroy()', args: [join(baselines, 'chartjs-no-destroy.js')] },
    { id: 'destroy', label: '(b) Chart.js + node:http, destroy()', args: [join(baselines, 'chartjs-destroy.js')] },
    {
      id: 'chartd',
      label: `(c) chartd, ${workers} workers`,
      args: [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', String(workers)],
      // As `npm start`: glibc gives freed native memory back (docs/OPERATIONS.md, "Memory").
      env: { ...process.env, ...MALLOC_SETTINGS },
    },
  ];
  const documentedCodes = readDocumentedCodes();
  const results: TargetResult[] = [];
  for (const target of targets) {
    results.push(await measure(target, { requests, concurrency, rssCapBytes, out, documentedCodes }));
  }

  const headers = ['server', 'requests ok', 'req/s', 'p50 ms', 'p99 ms', 'RSS at 10 % MB', 'RSS end MB', 'RSS slope MB/1,000 req', 'note'];
  const rows = results.map(({ target, recorder, durationSeconds, samples, stoppedAtCap, exit }) => {
    const memory = summarizeMemory(samples);
    const latency = summarizeLatency(recorder);
    const note = [stoppedAtCap ? `stopped at the ${rssCapBytes / MB} MB RSS cap` : '', exit !== 'code 0' ? `exit ${exit}` : ''].filter(Boolean).join('; ');
    return [
      target.label,
      `${recorder.byClass.ok}/${recorder.completed}`,
      roundTo(recorder.completed / durationSeconds, 1),
      latency.p50,
      latency.p99,
      memory.rssAt10PercentMb ?? '?',
      memory.rssEndMb ?? '?',
      memory.rssSlopeMbPer1000,
      note || '-',
    ];
  });
  printTable(headers, rows);
  const markdown = [
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
  await writeFile(join(out, 'table.md'), `${machine}; ${requests} requests per server, concurrency ${concurrency}\n\n${markdown}\n`);
  await writeFile(
    join(out, 'summary.json'),
    JSON.stringify(
      {
        tool: 'bench/compare.ts',
        machine,
        node: process.version,
        date: new Date().toISOString(),
        requests,
        concurrency,
        results: results.map(({ target, recorder, durationSeconds, samples, stoppedAtCap, exit }) => ({
          server: target.label,
          requests: recorder.completed,
          throughputRps: roundTo(recorder.completed / durationSeconds, 2),
          latencyMs: summarizeLatency(recorder),
          memory: summarizeMemory(samples),
          outcomes: outcomeTable(recorder),
          stoppedAtCap,
          exit,
        })),
      },
      null,
      2,
    ) + '\n',
  );
  const png = await renderRssOverRequests(
    results.map(({ target, samples }) => ({ label: target.label, samples })),
    [`RSS over requests: the same ${requests.toLocaleString('en-US')} chart requests, concurrency ${concurrency}`, machine],
  );
  await writeFile(join(out, 'compare.png'), png);
  console.log(`\nwrote ${relative(process.cwd(), out)}/ (compare.png, table.md, summary.json, samples-*.csv)`);
  return 0;
}

async function measure(
  target: Target,
  options: { requests: number; concurrency: number; rssCapBytes: number; out: string; documentedCodes: Map<string, number> },
): Promise<TargetResult> {
  const server = await spawnServer({ args: target.args, env: target.env, logFile: join(options.out, `server-${target.id}.log`) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const recorder = new Recorder();
  // The same seed for every server: the same requests in the same order.
  const mix = new RequestMix({ formats: ['png', 'webp', 'jpeg'], invalidRatio: 0, version: '4', sizes: ['native', 'small'], seed: DEFAULTS.seed });
  const startedAt = performance.now();
  const sampler = new MemorySampler({ pid: server.pid, adminUrl: undefined, recorder, intervalMs: 1_000, startedAt });
  const cap = new AbortController();
  await sampler.sample();
  sampler.start();
  const progress = new Progress({ recorder, sampler, total: options.requests, startedAt, label: target.label });
  await runLoad({
    next: () => mix.next(),
    concurrency: options.concurrency,
    requests: options.requests,
    until: undefined,
    signal: cap.signal,
    client: { baseUrl: server.url, agent, timeoutMs: 60_000, documentedCodes: options.documentedCodes },
    recorder,
    onOutcome: () => {
      const rss = sampler.latest()?.rssBytes;
      if (rss !== undefined && rss > options.rssCapBytes) cap.abort();
    },
  });
  progress.stop();
  await sampler.stop();
  const durationSeconds = (performance.now() - startedAt) / 1000;
  agent.destroy();
  const exit = await server.stop();
  await writeFile(join(options.out, `samples-${target.id}.csv`), samplesToCsv(sampler.samples));
  console.log(`${target.label}: ${recorder.completed} requests in ${formatDuration(durationSeconds)}, RSS end ${((sampler.latest()?.rssBytes ?? 0) / MB).toFixed(0)} MB`);
  return { target, samples: sampler.samples, recorder, durationSeconds, stoppedAtCap: cap.signal.aborted, exit };
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof TypeError || /^--/.test((error as Error).message))) throw error;
  console.error(`bench:compare: ${(error as Error).message}\n\n${HELP}`);
  process.exitCode = 2;
}
