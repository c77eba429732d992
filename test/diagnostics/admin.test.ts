import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import type { RunningService } from '../../src/service.js';
import { topFunctions } from '../helpers/pprof.js';
import { startTestService } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

const run = promisify(execFile);
const hasCommand = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

const leakyChart = (leakBytes: number) =>
  JSON.stringify({
    type: 'bar',
    data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] },
    options: { plugins: { chartdTest: { leakBytes } } },
  });

async function renderVia(service: RunningService, chart: string): Promise<Response> {
  return fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chart, devicePixelRatio: 1 }) });
}

describe('admin port', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 2, timeoutMs: 20_000 }, { faultHooks: true });
  });
  after(() => service.close());

  test('/metrics is Prometheus text that promtool accepts, with chartd series', async () => {
    const ok = await renderVia(service, leakyChart(0));
    assert.equal(ok.status, 200);
    const response = await fetch(`${service.adminUrl}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^chartd_requests_total\{route="\/chart",method="POST",status="200"\} [1-9]/m);
    assert.match(text, /^chartd_render_duration_seconds_count\{engine="chartjs2",format="png"\} [1-9]/m);
    for (const name of ['chartd_queue_depth', 'chartd_renders_in_flight', 'chartd_worker_heap_used_bytes{worker="0"}', 'chartd_worker_restarts_total{reason="crash"}', 'chartd_leaked_handles_total{kind="canvas"}', 'process_resident_memory_bytes']) {
      assert.ok(text.includes(`\n${name}`), `missing ${name}`);
    }
    const documented = readFileSync(new URL('../../../docs/METRICS.md', import.meta.url), 'utf8');
    for (const [, family] of text.matchAll(/^# HELP (chartd_\w+)/gm)) {
      assert.ok(documented.includes(`\`${family}\``), `${family} is not in docs/METRICS.md`);
    }
    if (!hasCommand('promtool')) {
      assert.notEqual(process.env.CI, 'true', 'promtool is missing in CI: run scripts/install-test-tools.sh');
      return;
    }
    // promtool 2.42 lints prom-client's own nodejs_active_*_total gauges (a _total suffix on a gauge); chartd's names must be clean.
    const checked = text.split('\n').filter((line) => !/nodejs_active_\w+_total/.test(line)).join('\n');
    const result = spawnSync('promtool', ['check', 'metrics'], { input: checked, encoding: 'utf8' });
    assert.equal(result.status, 0, `promtool check metrics: ${result.stdout}${result.stderr}`);
  });

  test("a worker's heap profile names the leaking plugin's function", async () => {
    for (let i = 0; i < 12; i++) assert.equal((await renderVia(service, leakyChart(2_000_000))).status, 200);
    const worker = service.pool.stats().workers.sort((a, b) => b.heapUsedBytes - a.heapUsedBytes)[0]!.slot;
    const response = await fetch(`${service.adminUrl}/debug/pprof/heap?worker=${worker}`);
    assert.equal(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    const top = topFunctions(body).slice(0, 3).map(([name]) => name);
    assert.ok(top.includes('leakingTestPlugin'), `top functions: ${top.join(', ')}`);

    if (hasCommand('go')) {
      const dir = mkdtempSync(join(tmpdir(), 'chartd-pprof-'));
      const file = join(dir, 'heap.pb.gz');
      writeFileSync(file, body);
      const { stdout } = await run('go', ['tool', 'pprof', '-top', file], { env: { ...process.env, HOME: dir } });
      const firstEntry = stdout.split('\n').find((line) => /^\s*[\d.]+[kMG]?B\s/.test(line));
      assert.match(firstEntry ?? '', /leakingTestPlugin/, stdout);
    }
  });

  test('the main thread has heap and CPU profiles too', async () => {
    const heap = await fetch(`${service.adminUrl}/debug/pprof/heap`);
    assert.equal(heap.status, 200);
    assert.ok(topFunctions(Buffer.from(await heap.arrayBuffer())).length > 0);
    const cpu = await fetch(`${service.adminUrl}/debug/pprof/profile?seconds=1&worker=0`);
    assert.equal(cpu.status, 200);
    const profile = Profile.decode(gunzipSync(Buffer.from(await cpu.arrayBuffer())));
    const types = profile.sampleType.map((type) => profile.stringTable.strings[Number(type.type)]);
    assert.deepEqual(types, ['samples', 'cpu']);
    const bad = await fetch(`${service.adminUrl}/debug/pprof/profile?seconds=600`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { code: string }).code, 'PARAM_INVALID');
  });

  test('a heap snapshot streams as V8 snapshot JSON; a second capture meanwhile is refused', async () => {
    const [first, second] = await Promise.all([
      fetch(`${service.adminUrl}/debug/heapsnapshot?worker=1`),
      new Promise<Response>((resolve) => setTimeout(() => resolve(fetch(`${service.adminUrl}/debug/heapsnapshot?worker=0`)), 20)),
    ]);
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 409]);
    const refused = first.status === 409 ? first : second;
    assert.equal(((await refused.json()) as { code: string }).code, 'CAPTURE_BUSY');
    const taken = first.status === 200 ? first : second;
    const snapshot = JSON.parse(await taken.text()) as { snapshot: { meta: { node_fields: string[] }; node_count: number } };
    assert.ok(snapshot.snapshot.meta.node_fields.includes('self_size'));
    assert.ok(snapshot.snapshot.node_count > 1000);
    const again = await fetch(`${service.adminUrl}/debug/heapsnapshot?worker=0`);
    assert.equal(again.status, 200);
    await again.arrayBuffer();
  });

  test('/debug/resources lists a render in flight, with its age and worker', async () => {
    const slow = renderVia(service, JSON.stringify({ type: 'bar', data: { datasets: [{ data: [1] }] }, options: { plugins: { chartdTest: { busyMs: 1500 } } } }));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const resources = (await (await fetch(`${service.adminUrl}/debug/resources`)).json()) as {
      inFlightRenders: Array<{ worker: number; ageMs: number }>;
      workers: Array<{ worker: number; state: string }>;
      activeResources: Record<string, number>;
      openSockets: Record<string, number>;
    };
    assert.equal(resources.inFlightRenders.length, 1);
    assert.ok(resources.inFlightRenders[0]!.ageMs >= 300);
    assert.equal(resources.workers.find((w) => w.worker === resources.inFlightRenders[0]!.worker)?.state, 'busy');
    assert.ok(resources.activeResources.TCPServerWrap! >= 2);
    assert.ok(resources.openSockets.public! >= 1);
    assert.equal((await slow).status, 200);
  });

  test('workers can be recycled and terminated from the admin port', async () => {
    const before = service.pool.stats().restarts;
    assert.equal((await fetch(`${service.adminUrl}/debug/workers/0/recycle`, { method: 'POST' })).status, 202);
    assert.equal((await fetch(`${service.adminUrl}/debug/workers/1/terminate`, { method: 'POST' })).status, 202);
    assert.equal((await fetch(`${service.adminUrl}/debug/workers/7/terminate`, { method: 'POST' })).status, 400);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await service.pool.ready();
    const after = service.pool.stats().restarts;
    assert.equal(after.recycled, before.recycled + 1);
    assert.equal(after.crash, before.crash + 1);
    assert.equal((await renderVia(service, leakyChart(0))).status, 200);
  });

  test('the public port serves no metrics or debug routes', async () => {
    for (const path of ['/metrics', '/debug/resources', '/debug/pprof/heap', '/debug/heapsnapshot']) {
      assert.equal((await fetch(`${service.url}${path}`)).status, 404, path);
    }
  });
});

describe('admin token', () => {
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 1, adminToken: 'test-token-123' });
  });
  after(() => service.close());

  test('requests without the bearer token get 401; with it, 200; health needs none', async () => {
    const denied = await fetch(`${service.adminUrl}/metrics`);
    assert.equal(denied.status, 401);
    assert.equal(((await denied.json()) as { code: string }).code, 'UNAUTHORIZED');
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal((await fetch(`${service.adminUrl}/debug/resources`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(`${service.adminUrl}/metrics`, { headers: { authorization: 'Bearer test-token-123' } })).status, 200);
    assert.equal((await fetch(`${service.adminUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${service.adminUrl}/readyz`)).status, 200);
  });
});

describe('heap profiles since warm-up', () => {
  const WARM_UP_RENDERS = 10;
  const LEAK_PER_RENDER = 400_000; // bytes leakingTestPlugin keeps, per render
  const HELD_MS = 1_000; // a growth profile counts what has been held this long
  let service: RunningService;
  before(async () => {
    service = await startTestService({ workers: 1, timeoutMs: 20_000 }, { faultHooks: true, warmUp: { ms: 0, renders: WARM_UP_RENDERS, heldMs: HELD_MS } });
  });
  after(() => service.close());

  const profileOf = async (query: string) => {
    const response = await fetch(`${service.adminUrl}/debug/pprof/heap${query}`);
    assert.equal(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    const top = topFunctions(body);
    const profile = Profile.decode(gunzipSync(body));
    const comments = profile.comment.map((index) => profile.stringTable.strings[Number(index)]);
    return { top, comments, total: top.reduce((sum, [, bytes]) => sum + bytes, 0), leaked: top.find(([name]) => name === 'leakingTestPlugin')?.[1] ?? 0 };
  };

  test("`since=warmup` leaves out start-up and the warm-up's own allocations: a young leak comes first", async (t) => {
    // A leak during the warm-up (held for good, as start-up is), then as much again after it.
    for (let i = 0; i < WARM_UP_RENDERS; i++) assert.equal((await renderVia(service, leakyChart(LEAK_PER_RENDER))).status, 200);
    for (let i = 0; i < WARM_UP_RENDERS; i++) assert.equal((await renderVia(service, leakyChart(LEAK_PER_RENDER))).status, 200);
    // Held long enough to count (the clock reads every HELD_MS / 6); then a render whose own leak is too young to.
    await sleep(2 * HELD_MS);
    assert.equal((await renderVia(service, leakyChart(LEAK_PER_RENDER))).status, 200);
    const sinceBoot = await profileOf('?worker=0');
    const sinceWarmUp = await profileOf('?worker=0&since=warmup');
    t.diagnostic(`since boot: ${mib(sinceBoot.total)} in all, leak ${mib(sinceBoot.leaked)}; since warm-up: ${mib(sinceWarmUp.total)} in all, leak ${mib(sinceWarmUp.leaked)}, top ${sinceWarmUp.top.slice(0, 3).map(([name]) => name).join(', ')}`);
    assert.equal(sinceWarmUp.top[0]?.[0], 'leakingTestPlugin', sinceWarmUp.top.slice(0, 5).join('; '));
    // Half the leak came before the mark: the growth profile holds about half of it (sampled every 128 KiB).
    const halfLeak = WARM_UP_RENDERS * LEAK_PER_RENDER;
    assert.ok(sinceWarmUp.leaked > halfLeak * 0.5 && sinceWarmUp.leaked < halfLeak * 1.5, `${sinceWarmUp.leaked} bytes since warm-up for ${halfLeak} leaked`);
    // Sampled every 128 KiB, so a few per cent either way: 5.94 MB of the 8 once, on a loaded VM.
    assert.ok(sinceBoot.leaked > halfLeak * 1.3, `${sinceBoot.leaked} bytes since boot for ${2 * halfLeak} leaked`);
    // Start-up's modules, fonts and compiled code are in the profile since boot only.
    assert.ok(sinceBoot.total - sinceBoot.leaked > 4 * (sinceWarmUp.total - sinceWarmUp.leaked), `rest: ${sinceBoot.total - sinceBoot.leaked} vs ${sinceWarmUp.total - sinceWarmUp.leaked}`);
    assert.deepEqual(sinceWarmUp.comments, ['in-use allocations made after the warm-up and held for over 1 s: the growth since then']);
    assert.deepEqual(sinceBoot.comments, ['in-use allocations since the process started']);
  });

  test('the main process has one too; `since` takes only warmup or boot', async () => {
    const main = await profileOf('?since=warmup');
    assert.equal(main.comments.length, 1);
    for (const bad of ['yesterday', '__proto__', 'constructor']) {
      const response = await fetch(`${service.adminUrl}/debug/pprof/heap?worker=0&since=${bad}`);
      assert.equal(response.status, 400, bad);
      assert.equal(((await response.json()) as { code: string }).code, 'PARAM_INVALID');
    }
  });
});

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
