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
import { describeMachine } from './machine.js';
import { ChaosMonkey, killLocalWorker, terminateRemoteWorker } from './load/chaos.js';
import { ProcessTree } from './load/process-tree.js';
import { readDocumentedCodes } from './load/documented-codes.js';
import { sendRequest, type ClientOptions } from './load/http-client.js';
import { runLoad } from './load/load-driver.js';
import { MemorySampler, samplesToCsv } from './load/memory-sampler.js';
import { FAULT_HOOKS_URL, REPO_ROOT } from './load/paths.js';
import { metricByLabel, metricValue, scrapeMetrics } from './load/prometheus.js';
import { formatDuration, Progress } from './load/progress.js';
import { Recorder } from './load/recorder.js';
import { renderSoakReport } from './load/report-png.js';
import { buildOomRequest, RequestMix, SOAK_FORMATS } from './load/request-mix.js';
import { DEFAULTS, HELP, parseSoakOptions, UsageError, type SoakOptions } from './load/soak-options.js';
import { spawnServer, type ServerProcess } from './load/server-process.js';
import { createRandom } from './load/stats.js';
import { roundTo } from '../src/values.js';
import { chaosFigures, outcomeTable, summarizeLatency, summarizeMemory, type Check } from './load/summary.js';
import { MALLOC_SETTINGS } from '../src/pool/worker-process.js';

async function startChartd(options: SoakOptions): Promise<ServerProcess> {
  const args = [join(REPO_ROOT, 'bin', 'chartd.js'), 'serve', '--port', '0', '--admin-port', '0', '--workers', String(options.workers)];
  if (options.chaos) args.push('--worker-heap', String(DEFAULTS.chaosWorkerHeapMb));
  // The mix draws from a fixed set of requests: a render cache would answer nearly all of them
  // and leave the workers, whose memory the soak is about, idle. test/server/render-cache.test.ts soaks the cache.
  args.push('--render-cache', '0');
  args.push(...options.serverArgs);
  // As `npm start` (package.json): glibc returns freed native memory (docs/OPERATIONS.md).
  const env: NodeJS.ProcessEnv = { ...process.env, ...MALLOC_SETTINGS };
  // Chaos sends configs that blow their worker's heap: the fault hooks (a test fixture) are preloaded into the workers.
  if (options.chaos) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${FAULT_HOOKS_URL}`.trim();
  return spawnServer({ args, env, logFile: join(options.out, 'server.log') });
}

export async function runSoak(options: SoakOptions): Promise<number> {
  await mkdir(options.out, { recursive: true });
  const machine = describeMachine();
  const server = options.url ? undefined : await startChartd(options);
  const baseUrl = options.url ?? server!.url;
  const adminUrl = server?.adminUrl ?? options.adminUrl;
  if (options.chaos && !adminUrl) throw new UsageError('--chaos needs the admin listener: pass --admin-url');
  const target = server ? `chartd started here (pid ${server.pid}, --workers ${options.workers}${options.chaos ? `, --worker-heap ${DEFAULTS.chaosWorkerHeapMb}, fault hooks preloaded` : ''}${options.serverArgs.length ? ' ' + options.serverArgs.join(' ') : ''})` : `${baseUrl.href} (external)`;
  console.log(`chartd soak: ${machine}`);
  console.log(`target ${baseUrl.href}: ${target}; concurrency ${options.concurrency}; ${options.requests ? `${options.requests.toLocaleString('en-US')} requests` : ''}${options.requests && options.seconds ? ' or ' : ''}${options.seconds ? `${options.seconds} s` : ''}${options.chaos ? '; chaos on' : ''}`);

  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency + options.chaosOom + 4 });
  const client: ClientOptions = { baseUrl, agent, timeoutMs: options.timeoutMs, documentedCodes: readDocumentedCodes(), workersAreKilled: options.chaos };
  const mix = new RequestMix({ formats: SOAK_FORMATS, invalidRatio: options.invalidRatio, sizes: options.sizes, seed: options.seed });
  const recorder = new Recorder();
  const startedAt = performance.now();
  const sampler = new MemorySampler({ pid: server?.pid, adminUrl, recorder, intervalMs: DEFAULTS.sampleIntervalMs, startedAt });
  const random = createRandom(options.seed + 1);
  const oom = buildOomRequest();
  const chaos = options.chaos
    ? new ChaosMonkey({
        killWorker: server
          ? killLocalWorker(new ProcessTree(server.pid), random)
          : terminateRemoteWorker(adminUrl!, await countWorkers(adminUrl!), random),
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
  // Under chaos, workers die and restart every few seconds: the whole tree saw-tooths
  // with them, and what could accumulate across kills is the main process's state.
  const slope = options.chaos
    ? { name: 'main-process RSS slope', value: memory.mainRssSlopeMbPer1000, what: 'the main process (workers are killed and restarted)' }
    : { name: 'RSS slope', value: memory.rssSlopeMbPer1000, what: 'the whole process tree' };
  const checks: Check[] = [
    {
      name: slope.name,
      ok: Number.isFinite(slope.value) && slope.value <= options.maxSlope,
      detail: Number.isFinite(slope.value)
        ? `${slope.value} MB per 1,000 requests over the second half (${memory.slopeSamples} samples) of ${slope.what}, max ${options.maxSlope}`
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
    // An invalid chart a kill interrupted answers WORKER_CRASHED too: it counts against the same kills.
    const invalid = recorder.byKind.get('invalid') ?? { total: 0, ok: 0 };
    const failed = valid.total - valid.ok + (invalid.total - invalid.ok);
    checks.push({
      name: 'a kill costs at most the render it interrupts',
      ok: failed <= chaos.stats.terminations,
      detail: `${failed} valid or invalid requests failed, ${chaos.stats.terminations} workers terminated (oom configs kill only themselves)`,
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
    durationSeconds: roundTo(durationSeconds, 1),
    requests: recorder.completed,
    throughputRps: roundTo(recorder.completed / durationSeconds, 2),
    outcomes: outcomeTable(recorder),
    classes: recorder.byClass,
    byKind: Object.fromEntries(recorder.byKind),
    validSuccessRatio: roundTo(successRatio, 5),
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
