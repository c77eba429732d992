/**
 * Soak test: drives a chartd with a realistic mix of chart requests (the
 * render-core scenarios across sizes, formats, GET and POST, ~5 % invalid ones),
 * samples the server's memory every second, and fails when RSS keeps growing or
 * when any request is lost. With --chaos it kills workers meanwhile.
 * Run: npm run soak -- --help
 */
import http from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine } from './machine.js';
import { ChaosMonkey } from './load/chaos.js';
import { readDocumentedCodes } from './load/documented-codes.js';
import { sendRequest, type ClientOptions } from './load/http-client.js';
import { runLoad } from './load/load-driver.js';
import { MemorySampler, samplesToCsv } from './load/memory-sampler.js';
import { defaultOutDir, REPO_ROOT } from './load/paths.js';
import { metricByLabel, metricValue, scrapeMetrics } from './load/prometheus.js';
import { formatDuration, Progress } from './load/progress.js';
import { Recorder } from './load/recorder.js';
import { renderSoakReport } from './load/report-png.js';
import { buildOomRequest, RequestMix, SIZE_VARIANTS, SOAK_FORMATS, type SizeVariant } from './load/request-mix.js';
import { spawnServer, type ServerProcess } from './load/server-process.js';
import { createRandom, round } from './load/stats.js';
import { chaosFigures, outcomeTable, summarizeLatency, summarizeMemory, type Check } from './load/summary.js';

/**
 * Defaults, each with its unit. The thresholds were measured on the 2-core
 * machine of bench/RESULTS.md; docs/LEAKS.md has the reasoning.
 */
const DEFAULTS = {
  requests: 10_000, // requests, unless --seconds
  concurrency: 4, // requests in flight
  workers: 2, // workers of the chartd this tool starts
  // chartd's RSS over the second half of a quiet soak moves by a few hundredths of
  // a MB per 1,000 requests either way; a forgotten chart.destroy() costs
  // ~1,000 MB per 1,000 requests (bench:compare). 0.5 MB per 1,000 is far above
  // the noise and still catches a 0.5 KB-per-request leak within a long soak.
  maxSlopeMbPer1000: 0.5, // MB of RSS per 1,000 requests
  // Each tick ends two workers (one terminate, one oom config) and the pool
  // restarts them; 5 s keeps the run mostly about the load, not about restarts.
  chaosIntervalMs: 5_000, // ms between chaos ticks
  chaosOomPerTick: 1, // oom configs per chaos tick
  // A terminated worker loses the one render it was running and nothing else
  // (checked exactly: valid failures <= terminations); an oom config kills only
  // its own render. So the ratio is about 1 - 1/(valid requests per tick):
  // measured 98.0 % at 5 s ticks (10.5 req/s under chaos, 2 cores), 94.4 % at 2 s.
  // 0.95 holds down to ~4 valid requests/s at the default interval.
  chaosMinSuccessRatio: 0.95, // valid requests that render / valid requests
  invalidRatio: 0.05, // share of invalid requests
  timeoutMs: 30_000, // per request: past it the request counts as lost
  chaosWorkerHeapMb: 64, // --worker-heap of a chartd started for --chaos: oom configs die fast
  sampleIntervalMs: 1_000, // ms between memory samples
  seed: 1,
};

const HELP = `Usage: npm run soak -- [options]   (or: node dist/bench/soak.js [options])

Drives chartd with the render-core scenarios (bench/scenarios.ts) across sizes,
formats (${SOAK_FORMATS.join(', ')}), GET and POST, plus ~5 % invalid requests that must get
their documented error code; samples memory every second; writes samples.csv,
report.png and summary.json. Exits 1 when the RSS slope passes --max-slope, when a
request gets no response, when a response is neither an image nor a documented
error (or not the expected error), or when the share of valid charts that render
is below --min-success-ratio.

  --url URL               target an existing chartd (default: start one on free
                          loopback ports with --workers ${DEFAULTS.workers}, as npm start does)
  --admin-url URL         its admin listener (default with --url: port 9464 of its host)
  --requests N            requests to send (default ${DEFAULTS.requests} unless --seconds)
  --seconds T             run for T seconds (with --requests: whichever comes first)
  --concurrency C         requests in flight (default ${DEFAULTS.concurrency})
  --workers N             workers of the chartd started here (default ${DEFAULTS.workers})
  --server-args "..."     more flags for the chartd started here
  --out DIR               output directory (default bench/out/soak-<date>)
  --max-slope MB          fail above this RSS growth, MB per 1,000 requests, least
                          squares over the second half (default ${DEFAULTS.maxSlopeMbPer1000})
  --chaos                 kill workers while the load runs (admin terminate + oom
                          configs; a chartd started here gets CHARTD_TEST_HOOKS=1
                          and --worker-heap ${DEFAULTS.chaosWorkerHeapMb})
  --chaos-interval-ms MS  time between chaos ticks (default ${DEFAULTS.chaosIntervalMs})
  --chaos-every N         instead: a chaos tick every N completed requests (a count,
                          so the ratio does not depend on the machine's speed)
  --chaos-oom N           oom configs per chaos tick (default ${DEFAULTS.chaosOomPerTick})
  --min-success-ratio R   valid charts that must render, 0..1 (default 1 without
                          --chaos, ${DEFAULTS.chaosMinSuccessRatio} with it)
  --sizes LIST            size variants, comma-separated: native (the scenario's),
                          small (half), hidpi (devicePixelRatio 2) (default all)
  --invalid-ratio R       share of invalid requests (default ${DEFAULTS.invalidRatio})
  --timeout-ms MS         per request; past it the request is lost (default ${DEFAULTS.timeoutMs})
  --seed N                request sequence seed (default ${DEFAULTS.seed})
  --help                  this text
`;

interface SoakOptions {
  url: URL | undefined;
  adminUrl: URL | undefined;
  requests: number | undefined;
  seconds: number | undefined;
  concurrency: number;
  workers: number;
  serverArgs: string[];
  out: string;
  maxSlope: number;
  chaos: boolean;
  chaosIntervalMs: number | undefined;
  chaosEvery: number | undefined;
  chaosOom: number;
  minSuccessRatio: number;
  invalidRatio: number;
  sizes: SizeVariant[];
  timeoutMs: number;
  seed: number;
}

class UsageError extends Error {}

function parseSoakOptions(argv: string[]): SoakOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string' },
      'admin-url': { type: 'string' },
      requests: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      'server-args': { type: 'string' },
      out: { type: 'string' },
      'max-slope': { type: 'string' },
      chaos: { type: 'boolean' },
      'chaos-interval-ms': { type: 'string' },
      'chaos-every': { type: 'string' },
      'chaos-oom': { type: 'string' },
      'min-success-ratio': { type: 'string' },
      'invalid-ratio': { type: 'string' },
      sizes: { type: 'string' },
      'timeout-ms': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const number = (name: keyof typeof values, check: (n: number) => boolean, what: string): number | undefined => {
    const text = values[name];
    if (text === undefined) return undefined;
    const value = Number(text);
    if (typeof text !== 'string' || text.trim() === '' || !check(value)) throw new UsageError(`--${name} must be ${what}, got "${String(text)}"`);
    return value;
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const ratio = (n: number) => n >= 0 && n <= 1;
  const url = values.url === undefined ? undefined : new URL(values.url);
  const adminUrl = values['admin-url'] !== undefined ? new URL(values['admin-url']) : url ? new URL(`http://${url.hostname}:9464`) : undefined;
  const seconds = number('seconds', (n) => n > 0, 'a positive number');
  const requests = number('requests', positiveInt, 'a positive integer') ?? (seconds === undefined ? DEFAULTS.requests : undefined);
  const chaos = values.chaos ?? false;
  const chaosEvery = number('chaos-every', positiveInt, 'a positive integer');
  const sizes = (values.sizes ?? SIZE_VARIANTS.join(',')).split(',').map((size) => size.trim()) as SizeVariant[];
  const unknownSize = sizes.find((size) => !SIZE_VARIANTS.includes(size));
  if (unknownSize !== undefined) throw new UsageError(`--sizes takes ${SIZE_VARIANTS.join(', ')}, got "${unknownSize}"`);
  return {
    url,
    adminUrl,
    requests,
    seconds,
    concurrency: number('concurrency', positiveInt, 'a positive integer') ?? DEFAULTS.concurrency,
    workers: number('workers', positiveInt, 'a positive integer') ?? DEFAULTS.workers,
    serverArgs: values['server-args']?.split(/\s+/).filter(Boolean) ?? [],
    out: values.out ?? defaultOutDir(chaos ? 'soak-chaos' : 'soak'),
    maxSlope: number('max-slope', (n) => n >= 0, 'a number >= 0') ?? DEFAULTS.maxSlopeMbPer1000,
    chaos,
    chaosIntervalMs: chaosEvery !== undefined ? undefined : (number('chaos-interval-ms', positiveInt, 'a positive integer') ?? DEFAULTS.chaosIntervalMs),
    chaosEvery,
    chaosOom: number('chaos-oom', (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0') ?? DEFAULTS.chaosOomPerTick,
    minSuccessRatio: number('min-success-ratio', ratio, 'a ratio from 0 to 1') ?? (chaos ? DEFAULTS.chaosMinSuccessRatio : 1),
    invalidRatio: number('invalid-ratio', ratio, 'a ratio from 0 to 1') ?? DEFAULTS.invalidRatio,
    sizes,
    timeoutMs: number('timeout-ms', positiveInt, 'a positive integer') ?? DEFAULTS.timeoutMs,
    seed: number('seed', Number.isInteger, 'an integer') ?? DEFAULTS.seed,
  };
}

async function startChartd(options: SoakOptions): Promise<ServerProcess> {
  const args = [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', String(options.workers)];
  if (options.chaos) args.push('--worker-heap', String(DEFAULTS.chaosWorkerHeapMb));
  args.push(...options.serverArgs);
  // As `npm start` (package.json): glibc returns freed native memory (DESIGN.md).
  const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_TRIM_THRESHOLD_: '1048576', MALLOC_MMAP_THRESHOLD_: '1048576' };
  if (options.chaos) env.CHARTD_TEST_HOOKS = '1';
  return spawnServer({ args, env, logFile: join(options.out, 'server.log') });
}

export async function runSoak(options: SoakOptions): Promise<number> {
  await mkdir(options.out, { recursive: true });
  const machine = describeMachine();
  const server = options.url ? undefined : await startChartd(options);
  const baseUrl = options.url ?? server!.url;
  const adminUrl = server?.adminUrl ?? options.adminUrl;
  if (options.chaos && !adminUrl) throw new UsageError('--chaos needs the admin listener: pass --admin-url');
  const target = server ? `chartd started here (pid ${server.pid}, --workers ${options.workers}${options.chaos ? `, --worker-heap ${DEFAULTS.chaosWorkerHeapMb}, CHARTD_TEST_HOOKS=1` : ''}${options.serverArgs.length ? ' ' + options.serverArgs.join(' ') : ''})` : `${baseUrl.href} (external)`;
  console.log(`chartd soak: ${machine}`);
  console.log(`target ${baseUrl.href}: ${target}; concurrency ${options.concurrency}; ${options.requests ? `${options.requests.toLocaleString('en-US')} requests` : ''}${options.requests && options.seconds ? ' or ' : ''}${options.seconds ? `${options.seconds} s` : ''}${options.chaos ? '; chaos on' : ''}`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency + options.chaosOom + 4 });
  const client: ClientOptions = { baseUrl, agent, timeoutMs: options.timeoutMs, documentedCodes: readDocumentedCodes() };
  const mix = new RequestMix({ formats: SOAK_FORMATS, invalidRatio: options.invalidRatio, sizes: options.sizes, seed: options.seed });
  const recorder = new Recorder();
  const startedAt = performance.now();
  const sampler = new MemorySampler({ pid: server?.pid, adminUrl, recorder, intervalMs: DEFAULTS.sampleIntervalMs, startedAt });
  const random = createRandom(options.seed + 1);
  const oom = buildOomRequest();
  const chaos = options.chaos
    ? new ChaosMonkey({
        adminUrl: adminUrl!,
        workers: server ? options.workers : await countWorkers(adminUrl!),
        intervalMs: options.chaosIntervalMs,
        everyRequests: options.chaosEvery,
        oomPerTick: options.chaosOom,
        random,
        sendOom: async () => recorder.record(await sendRequest(oom, client)),
      })
    : undefined;

  const stopping = new AbortController();
  const onSignal = () => {
    console.error('\nstopping: finishing the requests in flight (Ctrl-C again to quit at once)');
    stopping.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSignal);

  await sampler.sample();
  sampler.start();
  const progress = new Progress({ recorder, sampler, total: options.requests, startedAt, label: options.chaos ? 'soak (chaos)' : 'soak' });
  chaos?.start();
  await runLoad({
    next: () => mix.next(),
    concurrency: options.concurrency,
    requests: options.requests,
    until: options.seconds === undefined ? undefined : startedAt + options.seconds * 1000,
    signal: stopping.signal,
    client,
    recorder,
    onOutcome: () => chaos?.onCompleted(recorder.completed),
  });
  await chaos?.stop();
  progress.stop();
  await sampler.stop();
  process.off('SIGINT', onSignal);
  const durationSeconds = (performance.now() - startedAt) / 1000;
  const leakState = adminUrl ? await readLeakState(adminUrl) : undefined;
  agent.destroy();
  const serverExit = server ? await server.stop() : undefined;

  const memory = summarizeMemory(sampler.samples);
  const successRatio = recorder.successRatio();
  const valid = recorder.byKind.get('valid') ?? { total: 0, ok: 0 };
  const checks: Check[] = [
    {
      name: 'RSS slope',
      ok: Number.isFinite(memory.rssSlopeMbPer1000) && memory.rssSlopeMbPer1000 <= options.maxSlope,
      detail: Number.isFinite(memory.rssSlopeMbPer1000)
        ? `${memory.rssSlopeMbPer1000} MB per 1,000 requests over the second half (${memory.slopeSamples} samples), max ${options.maxSlope}`
        : `not measurable (${memory.slopeSamples} samples with RSS in the second half): run longer`,
    },
    {
      name: 'no lost requests',
      ok: recorder.byClass['no-response'] === 0,
      detail: `${recorder.byClass['no-response']} requests ended without a response (timeout ${options.timeoutMs} ms or socket error)`,
    },
    {
      name: 'every answer an image or the documented error',
      ok: recorder.byClass.unexpected === 0,
      detail: `${recorder.byClass.unexpected} responses were neither the image asked for nor a documented error code (or not the expected one)`,
    },
    {
      name: 'valid charts render',
      ok: valid.total > 0 && successRatio >= options.minSuccessRatio,
      detail: `${valid.ok}/${valid.total} = ${(successRatio * 100).toFixed(2)} %, min ${(options.minSuccessRatio * 100).toFixed(2)} %`,
    },
  ];
  if (chaos) {
    const failed = valid.total - valid.ok;
    checks.push({
      name: 'a kill costs at most the render it interrupts',
      ok: failed <= chaos.stats.terminations,
      detail: `${failed} valid requests failed, ${chaos.stats.terminations} workers terminated (oom configs kill only themselves)`,
    });
  }
  if (server) {
    checks.push({ name: 'chartd exits cleanly on SIGTERM', ok: serverExit === 'code 0', detail: `exit: ${serverExit}` });
  }
  const passed = checks.every((check) => check.ok);
  const summary = {
    tool: 'bench/soak.ts',
    machine,
    node: process.version,
    date: new Date().toISOString(),
    target,
    options: { ...options, url: options.url?.href, adminUrl: options.adminUrl?.href },
    durationSeconds: round(durationSeconds, 1),
    requests: recorder.completed,
    throughputRps: round(recorder.completed / durationSeconds, 2),
    outcomes: outcomeTable(recorder),
    classes: recorder.byClass,
    byKind: Object.fromEntries(recorder.byKind),
    validSuccessRatio: round(successRatio, 5),
    latencyMs: summarizeLatency(recorder),
    memory,
    chaos: chaos ? chaosFigures(recorder, chaos.stats) : undefined,
    leakDetectorAtEnd: leakState,
    scrapeFailures: sampler.scrapeFailures,
    surprises: recorder.examples,
    checks,
    passed,
  };

  const outcomeLines = summary.outcomes.map(({ outcome, count }) => `  ${String(count).padStart(8)}  ${outcome}`);
  const lines = [
    '',
    `${recorder.completed.toLocaleString('en-US')} requests in ${formatDuration(durationSeconds)} (${summary.throughputRps} req/s), latency ms p50 ${summary.latencyMs.p50}, p99 ${summary.latencyMs.p99}, max ${summary.latencyMs.max}`,
    'outcomes (status and code):',
    ...outcomeLines,
    `RSS: ${memory.rssAt10PercentMb} MB at 10 % of the requests, ${memory.rssEndMb} MB at the end (max ${memory.rssMaxMb} MB); slope over the second half ${memory.rssSlopeMbPer1000} MB per 1,000 requests`,
  ];
  if (summary.chaos) {
    const c = summary.chaos;
    lines.push(
      `chaos: ${c.ticks} ticks, ${c.terminations} workers terminated (${c.terminateMisses} misses), ${c.oomSent} oom configs; ` +
        `${c.validFailed} valid requests failed (${c.validFailedPerTermination ?? '-'} per termination)`,
    );
  }
  if (leakState) lines.push(`leak detector at the end: ${JSON.stringify(leakState)}`);
  for (const surprise of recorder.examples.slice(0, 5)) lines.push(`  e.g. ${surprise.label}: ${surprise.key}: ${surprise.detail ?? ''}`);
  lines.push('checks:', ...checks.map((check) => `  ${check.ok ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}`));

  await writeFile(join(options.out, 'samples.csv'), samplesToCsv(sampler.samples));
  await writeFile(join(options.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const title = [
    `chartd soak${options.chaos ? ' with chaos' : ''}: ${recorder.completed.toLocaleString('en-US')} requests, concurrency ${options.concurrency}, ${summary.throughputRps} req/s; RSS slope ${memory.rssSlopeMbPer1000} MB / 1,000 requests`,
    machine,
  ];
  await writeFile(join(options.out, 'report.png'), await renderSoakReport(sampler.samples, title));
  lines.push(`${passed ? 'passed' : 'FAILED'}; wrote ${relative(process.cwd(), options.out) || '.'}/{samples.csv,report.png,summary.json}`);
  console.log(lines.join('\n'));
  return passed ? 0 : 1;
}

async function countWorkers(adminUrl: URL): Promise<number> {
  const metrics = await scrapeMetrics(adminUrl);
  return Math.max(1, metricByLabel(metrics, 'chartd_worker_age_seconds', 'worker').size);
}

/** The leak detector's verdicts and the leaked-handle counters at the end of the run. */
async function readLeakState(adminUrl: URL): Promise<Record<string, number> | undefined> {
  try {
    const metrics = await scrapeMetrics(adminUrl);
    const state: Record<string, number> = {};
    for (const sample of metrics.get('chartd_leak_suspected') ?? []) state[`suspected ${sample.labels.thread}/${sample.labels.signal}`] = sample.value;
    for (const kind of ['chart', 'canvas']) state[`leaked ${kind} handles`] = metricValue(metrics, 'chartd_leaked_handles_total', { kind }) ?? 0;
    for (const reason of ['recycled', 'memory', 'deadline', 'crash']) state[`restarts ${reason}`] = metricValue(metrics, 'chartd_worker_restarts_total', { reason }) ?? 0;
    return state;
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  let options: SoakOptions | 'help';
  try {
    options = parseSoakOptions(argv);
  } catch (error) {
    console.error(`soak: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    console.log(HELP);
    return 0;
  }
  try {
    return await runSoak(options);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`soak: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
