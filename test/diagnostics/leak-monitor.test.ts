import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeakMonitor } from '../../src/diagnostics/leak-monitor.js';
import { createRenderJob, createRenderPool } from '../../src/index.js';
import { FAULT_HOOKS_URL, startTestService } from '../helpers/server.js';
import { collectingLogger } from '../helpers/logs.js';
import { sleep } from '../helpers/wait.js';

const MINUTE = 60_000;
/** Renders between samples: each simulated minute, the leaking worker keeps 12 MB more. */
const RENDERS_PER_MINUTE = 6;
const LEAK_BYTES_PER_RENDER = 2_000_000;
/** Long enough for a worker that settles every 100 ms to have settled after the last render. */
const SETTLE_WAIT_MS = 400;

const job = (leakBytes?: number) =>
  createRenderJob({
    chart: {
      type: 'bar',
      data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] },
      options: leakBytes ? { plugins: { chartdTest: { leakBytes } } } : {},
    },
    devicePixelRatio: 1,
  });

async function runMonitored(leakBytes: number | undefined) {
  // --expose-gc: the fault hook collects after each leak (see RENDERS_PER_MINUTE).
  // The worker settles its memory every 100 ms of real time, and each simulated minute waits for it (SETTLE_WAIT_MS).
  const pool = createRenderPool({ workers: 1, workerHeapLimitMb: 512, workerExecArgv: ['--expose-gc', '--import', FAULT_HOOKS_URL], settleEveryMs: 100 });
  await pool.ready();
  const { log, warnings } = collectingLogger();
  const monitor = new LeakMonitor({
    pool,
    log,
    adminUrl: () => 'http://127.0.0.1:9464',
    options: { windowMs: 30 * MINUTE, intervalMs: MINUTE, thresholdPerHour: 0.1, minSamples: 6, minSpanMs: 6 * MINUTE, minBytesPerHour: 8 * 1024 * 1024, recycleWorkers: true, warmUpMs: 2 * MINUTE, warmUpRenders: 0 },
  });
  try {
    // Simulated clock: one sample a "minute", real renders in between. A verdict needs 2 minutes
    // of warm-up and at least 6 of samples; 14 minutes leave a recycled worker's successor no time for one.
    // minSamples is 6, not the default 12: a worker reports no settled heap until it has settled once,
    // so on a busy machine the first samples can be missing, and 12 of 13 left no margin.
    for (let minute = 0; minute <= 14; minute++) {
      for (let i = 0; i < RENDERS_PER_MINUTE; i++) await pool.run(job(leakBytes));
      await sleep(SETTLE_WAIT_MS);
      monitor.sample(minute * MINUTE);
    }
    // Heap only: the simulated clock turns a fresh process's first hundred renders into half an
    // hour, and its resident and external memory do grow over those renders (allocator arenas,
    // encoder buffers). How those signals behave in real time is asserted on recorded runs
    // (leak-replay.test.ts); this test is about the monitor's mechanics with a real pool.
    const heap = (w: { fields: Record<string, unknown> }) => w.fields.thread === 'worker-0' && w.fields.signal === 'heap';
    return { warnings: warnings.filter(heap), states: monitor.states(), restarts: pool.stats().restarts };
  } finally {
    await pool.close();
  }
}

test('a worker that leaks is flagged once, with the commands to run, and recycled', async () => {
  const { warnings, restarts } = await runMonitored(LEAK_BYTES_PER_RENDER);
  assert.equal(warnings.length, 1, JSON.stringify(warnings.map((w) => w.message)));
  const [warning] = warnings;
  assert.match(warning!.message, /memory growth suspected in worker-0/);
  assert.match(warning!.message, /find what holds it with: go tool pprof -top 'http:\/\/127\.0\.0\.1:9464\/debug\/pprof\/heap\?worker=0&since=warmup' && /);
  assert.match(warning!.message, /go tool pprof -top -diff_base heap-1\.pb\.gz heap-2\.pb\.gz/);
  assert.match(warning!.message, /\/debug\/pprof\/heap\?worker=0/);
  assert.ok((warning!.fields.growthRatioPerHour as number) > 0.1);
  assert.equal(warning!.fields.recycled, true);
  assert.equal(restarts.memory, 1);
  // Never before the minimum span.
  assert.ok((warning!.fields.spanMs as number) >= 6 * MINUTE, `span ${warning!.fields.spanMs}`);
});

test('a worker under steady load is not flagged', async () => {
  const { warnings, states } = await runMonitored(undefined);
  assert.deepEqual(warnings, []);
  const worker = states.find((state) => state.thread === 'worker-0' && state.signal === 'heap');
  assert.ok(worker);
  assert.equal(worker.estimate.suspected, false);
});

test("a worker's settled readings count what it keeps, not its garbage: 20 kept 256 KiB Buffers add 5 MiB, 20 clean renders next to nothing", async () => {
  const pool = createRenderPool({ workers: 1, workerExecArgv: ['--import', FAULT_HOOKS_URL], settleEveryMs: 100 });
  try {
    await pool.ready();
    const settled = async () => {
      await sleep(SETTLE_WAIT_MS);
      const [worker] = pool.stats().workers;
      assert.ok(worker?.settledHeapBytes !== undefined && worker.settledExternalBytes !== undefined && worker.settledCodeBytes !== undefined, JSON.stringify(worker));
      return { data: worker.settledHeapBytes - worker.settledCodeBytes, code: worker.settledCodeBytes, external: worker.settledExternalBytes, rawExternal: worker.externalBytes };
    };
    const bufferJob = () =>
      createRenderJob({ chart: { type: 'bar', data: { labels: ['a'], datasets: [{ data: [1] }] }, options: { plugins: { chartdTest: { leakExternalBytes: 256 * 1024 } } } }, devicePixelRatio: 1 });
    for (let i = 0; i < 5; i++) await pool.run(job());
    const before = await settled();
    for (let i = 0; i < 20; i++) await pool.run(job());
    const clean = await settled();
    for (let i = 0; i < 20; i++) await pool.run(bufferJob());
    const leaked = await settled();
    // Without the forced GC, external memory also counts the images of renders not yet collected.
    const grown = leaked.external - clean.external;
    assert.ok(Math.abs(grown - 20 * 256 * 1024) < 64 * 1024, `settled external grew ${grown} bytes for 5,242,880 kept`);
    assert.ok(Math.abs(clean.external - before.external) < 64 * 1024, `20 clean renders moved settled external by ${clean.external - before.external}`);
    assert.ok(Math.abs(clean.data - before.data) < 512 * 1024, `20 clean renders moved the settled heap (code aside) by ${clean.data - before.data}`);
    assert.ok(before.code > 1_000_000 && before.code < before.data, `code ${before.code} of data ${before.data}`);
  } finally {
    await pool.close();
  }
});

test('a --leak-interval under a second does not make the workers collect more often than once a second', async () => {
  const service = await startTestService({ workers: 1, leakIntervalMs: 100 });
  try {
    assert.equal(service.pool.options.settleEveryMs, 1_000);
  } finally {
    await service.close();
  }
});
