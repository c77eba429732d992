// The native-object census (src/render/native-census.cts) in real worker processes:
// canvases, images and paths made straight from @napi-rs/canvas by a preloaded module
// (test/fixtures/fault-hooks.ts, an --import preload that imports the library before
// any chartd module, as a plugin or instrumentation would), outside chartd's handles,
// show in /metrics and /debug/resources per worker, go back to baseline once dropped
// and collected, and make the leak detector's native verdict name the worker and kind.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LeakMonitor } from '../../src/diagnostics/leak-monitor.js';
import { createRenderJob, createRenderPool } from '../../src/index.js';
import type { RunningService } from '../../src/service.js';
import { FAULT_HOOKS_URL, startTestService } from '../helpers/server.js';
import { collectingLogger } from '../helpers/logs.js';

const K = 6;
const CANVAS = { width: 300, height: 200 };
const IMAGE = { width: 120, height: 80 };

type Hook = Record<string, unknown>;

async function render(service: RunningService, hook?: Hook): Promise<void> {
  const chart = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] }, options: hook ? { plugins: { chartdTest: hook } } : {} };
  const response = await fetch(`${service.url}/chart`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ chart, width: 400, height: 240, devicePixelRatio: 1 }),
  });
  assert.equal(response.status, 200, await response.text());
  await response.arrayBuffer().catch(() => undefined);
}

/** chartd_worker_native_{objects,bytes} of worker 0, by kind, as /metrics shows them. */
async function nativeMetrics(service: RunningService): Promise<Record<string, { objects: number; bytes: number }>> {
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  const out: Record<string, { objects: number; bytes: number }> = {};
  for (const match of text.matchAll(/^chartd_worker_native_(objects|bytes)\{worker="0",kind="(\w+)"\} (\d+)$/gm)) {
    const entry = (out[match[2]!] ??= { objects: -1, bytes: -1 });
    entry[match[1] as 'objects' | 'bytes'] = Number(match[3]);
  }
  return out;
}

describe('native objects counted in the worker, whoever made them', () => {
  let service: RunningService;
  let baseline: Record<string, { objects: number; bytes: number }>;
  before(async () => {
    service = await startTestService({ workers: 1, timeoutMs: 20_000 }, { faultHooks: true, workerFlags: ['--expose-gc'] });
    await render(service);
    // Drop whatever the warm-up left to the finalizers, collect, and read the floor.
    await render(service, { releaseNative: true });
    await render(service);
    baseline = await nativeMetrics(service);
  });
  after(() => service.close());

  test('every kind is exported per worker, from the start', () => {
    assert.deepEqual(Object.keys(baseline).sort(), ['canvas', 'image', 'path', 'svg_canvas']);
    for (const [kind, tally] of Object.entries(baseline)) assert.ok(tally.objects >= 0 && tally.bytes >= 0, `${kind}: ${JSON.stringify(tally)}`);
    // chartd's own reusable canvas, at least.
    assert.ok(baseline.canvas!.objects >= 1, JSON.stringify(baseline));
  });

  test('canvases, images and paths a plugin retains raise the gauges by their count and pixel bytes, and /debug/resources shows them', async () => {
    for (let i = 0; i < K; i++) {
      await render(service, {
        retainNative: [
          { kind: 'canvas', via: i % 2 ? 'Canvas' : 'createCanvas', ...CANVAS },
          { kind: 'image', ...IMAGE },
          { kind: 'path' },
        ],
      });
    }
    const grown = await nativeMetrics(service);
    assert.ok(grown.canvas!.objects >= baseline.canvas!.objects + K, JSON.stringify({ baseline, grown }));
    assert.ok(grown.canvas!.bytes >= baseline.canvas!.bytes + K * CANVAS.width * CANVAS.height * 4, JSON.stringify({ baseline, grown }));
    assert.ok(grown.image!.objects >= baseline.image!.objects + K, JSON.stringify({ baseline, grown }));
    assert.ok(grown.image!.bytes >= baseline.image!.bytes + K * IMAGE.width * IMAGE.height * 4, JSON.stringify({ baseline, grown }));
    assert.ok(grown.path!.objects >= baseline.path!.objects + K, JSON.stringify({ baseline, grown }));
    assert.equal(grown.path!.bytes, 0);

    const resources = (await (await fetch(`${service.adminUrl}/debug/resources?worker=0`)).json()) as {
      workers: Array<{ worker: number; native: Record<string, { objects: number; bytes: number }> }>;
    };
    assert.equal(resources.workers.length, 1);
    assert.equal(resources.workers[0]!.worker, 0);
    // The same report the gauges read (the worker's last reply).
    assert.deepEqual(resources.workers[0]!.native, grown);
    const bad = await fetch(`${service.adminUrl}/debug/resources?worker=7`);
    assert.equal(bad.status, 400);
  });

  test("a worker heap snapshot holds the retained canvases' wrappers, by class name", async () => {
    const snapshot = (await (await fetch(`${service.adminUrl}/debug/heapsnapshot?worker=0`)).json()) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const fields = snapshot.snapshot.meta.node_fields;
    const width = fields.length;
    const nameAt = fields.indexOf('name');
    const typeAt = fields.indexOf('type');
    const objectType = snapshot.snapshot.meta.node_types[0].indexOf('object');
    const byName = new Map<string, number>();
    for (let i = 0; i < snapshot.nodes.length; i += width) {
      if (snapshot.nodes[i + typeAt] !== objectType) continue;
      const name = snapshot.strings[snapshot.nodes[i + nameAt]!]!;
      byName.set(name, (byName.get(name) ?? 0) + 1);
    }
    assert.ok((byName.get('CanvasElement') ?? 0) >= K, `CanvasElement objects: ${byName.get('CanvasElement')}`);
    assert.ok((byName.get('Image') ?? 0) >= K, `Image objects: ${byName.get('Image')}`);
  });

  test('dropped and collected, they go back to the baseline', async () => {
    let now = await nativeMetrics(service);
    // The finalizers run in a task after the GC that releaseNative makes: a later reply reports them.
    for (let i = 0; i < 10 && now.canvas!.objects > baseline.canvas!.objects; i++) {
      await render(service, { releaseNative: true });
      await render(service);
      now = await nativeMetrics(service);
    }
    for (const kind of ['canvas', 'image', 'path'] as const) {
      assert.ok(now[kind]!.objects <= baseline[kind]!.objects, `${kind}: ${JSON.stringify({ baseline, now })}`);
      assert.ok(now[kind]!.bytes <= baseline[kind]!.bytes, `${kind}: ${JSON.stringify({ baseline, now })}`);
    }
  });
});

const MINUTE = 60_000;
const RENDERS_PER_MINUTE = 6;

/** A real pool, a simulated clock (one sample a "minute"), as in leak-monitor.test.ts. */
async function runMonitored(retainCanvas: boolean) {
  // No recycle: with the simulated clock the worker's RSS is flagged too (as in leak-monitor.test.ts), and a
  // recycle would end the evidence of every signal of the slot.
  const pool = createRenderPool({ workers: 1, workerHeapLimitMb: 512, workerExecArgv: ['--import', FAULT_HOOKS_URL] });
  await pool.ready();
  const { log, warnings } = collectingLogger();
  const monitor = new LeakMonitor({
    pool,
    log,
    adminUrl: () => 'http://127.0.0.1:9464',
    options: { windowMs: 30 * MINUTE, intervalMs: MINUTE, thresholdPerHour: 0.1, minSamples: 6, minSpanMs: 6 * MINUTE, minBytesPerHour: 8 * 1024 * 1024, recycleWorkers: false, warmUpMs: 2 * MINUTE, warmUpRenders: 0 },
  });
  const job = () =>
    createRenderJob({
      chart: {
        type: 'bar',
        data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] },
        // One 400 × 300 canvas (480 kB of pixels) per render, straight from @napi-rs/canvas: ~170 MB per simulated hour.
        options: retainCanvas ? { plugins: { chartdTest: { retainNative: { kind: 'canvas', width: 400, height: 300 } } } } : {},
      },
      devicePixelRatio: 1,
    });
  try {
    // The native signal is the floor of the last 6 reads (a minute at the default interval; 6 samples here).
    for (let minute = 0; minute <= 20; minute++) {
      for (let i = 0; i < RENDERS_PER_MINUTE; i++) await pool.run(job());
      monitor.sample(minute * MINUTE);
    }
    const native = (w: { fields: Record<string, unknown> }) => w.fields.signal === 'native';
    return { warnings: warnings.filter(native), states: monitor.states(), restarts: pool.stats().restarts };
  } finally {
    await pool.close();
  }
}

test('canvases a plugin retains get a native verdict naming the worker and kind=canvas, with the commands that confirm it', async () => {
  const { warnings, restarts } = await runMonitored(true);
  assert.equal(warnings.length, 1, JSON.stringify(warnings.map((w) => w.message)));
  const [warning] = warnings;
  assert.equal(warning!.fields.thread, 'worker-0');
  assert.equal(warning!.fields.kind, 'canvas');
  assert.ok((warning!.fields.liveObjects as number) >= 6 * RENDERS_PER_MINUTE, `liveObjects ${warning!.fields.liveObjects}`);
  assert.match(warning!.message, /^memory growth suspected in worker-0 \(native: canvas, \d+ alive\)/);
  const next = warning!.fields.next as string[];
  // One command first: the worker's native objects by kind.
  assert.equal(next[0], "curl -s 'http://127.0.0.1:9464/debug/resources?worker=0'");
  assert.ok(next.includes("curl -s -o native-1.heapsnapshot 'http://127.0.0.1:9464/debug/heapsnapshot?worker=0'"), next.join('\n'));
  assert.ok(next.includes("curl -s -o native-2.heapsnapshot 'http://127.0.0.1:9464/debug/heapsnapshot?worker=0'"), next.join('\n'));
  assert.ok(
    next.includes(`curl -s 'http://127.0.0.1:9464/metrics' | grep -E '^chartd_worker_native_(objects|bytes)\\{worker="0",kind="canvas"\\}' > native-1.txt`),
    next.join('\n'),
  );
  assert.equal(next.at(-1), 'diff native-1.txt native-2.txt');
  assert.ok(!next.some((command) => command.includes('pprof')), 'a heap profile does not see native memory');
  assert.equal(warning!.fields.recycled, false);
  assert.equal(restarts.memory, 0);
});

test('a worker that renders without retaining anything gets no native verdict', async () => {
  const { warnings, states } = await runMonitored(false);
  assert.deepEqual(warnings, []);
  const native = states.find((state) => state.thread === 'worker-0' && state.signal === 'native');
  assert.ok(native, 'the native series is tracked');
  assert.equal(native.estimate.suspected, false);
});
