import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import type { TaskEvent } from '../../src/pool/render-pool.js';
import { countDrawnPixels, decodeImage } from '../helpers/images.js';
import { startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The service protecting itself, over HTTP: a full queue, a render past its
 * deadline, a crashing worker, recycling, rate limiting and clients that leave.
 * Faults come from test/fixtures/fault-hooks.ts, preloaded into the workers.
 */

/** Longest any request here may take: past it the request is counted as hung. */
const HANG_GUARD_MS = 20_000;

type Hook = { busyMs?: number; oom?: boolean; exit?: number };

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The hang guard fired: the server never answered. */
  hung: boolean;
  ms: number;
}

function chartWith(hook?: Hook): Record<string, unknown> {
  return {
    type: 'bar',
    data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] },
    ...(hook ? { options: { plugins: { chartdTest: hook } } } : {}),
  };
}

async function render(base: string, hook?: Hook): Promise<Reply> {
  const started = Date.now();
  const guard = AbortSignal.timeout(HANG_GUARD_MS);
  try {
    const res = await fetch(`${base}/chart`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chart: chartWith(hook), width: 200, height: 100, devicePixelRatio: 1 }),
      signal: guard,
    });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, hung: false, ms: Date.now() - started };
  } catch (error) {
    if (guard.aborted) return { status: 0, headers: new Headers(), body: Buffer.alloc(0), hung: true, ms: Date.now() - started };
    throw error;
  }
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function errorCode(reply: Reply): string {
  const body = JSON.parse(reply.body.toString('utf8')) as { code: string; statusCode: number; error: string; message: string };
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.equal(body.statusCode, reply.status);
  return body.code;
}

async function assertChartPng(reply: Reply): Promise<void> {
  assert.equal(reply.hung, false, 'the request was answered');
  assert.equal(reply.status, 200, reply.body.subarray(0, 300).toString());
  const image = await decodeImage(reply.body);
  assert.deepEqual([image.format, image.width, image.height], ['png', 200, 100]);
  assert.ok(countDrawnPixels(image) > 50);
}

test('saturation: past workers + queue, requests get 503 QUEUE_FULL with Retry-After, and all end', async (t) => {
  const service = await startTestService({ workers: 1, queue: 1 }, { faultHooks: true });
  t.after(() => service.close());
  const { pool, url } = service;

  const replies = Promise.all(Array.from({ length: 12 }, () => render(url, { busyMs: 300 })));
  await waitFor('one render running and one queued', () => pool.stats().inFlight === 1 && pool.stats().queueDepth === 1);
  const readyz = await fetch(`${url}/readyz`);
  assert.equal(readyz.status, 503);
  assert.deepEqual(await readyz.json(), { ready: false, reason: 'saturated' });

  const all = await replies;
  assert.deepEqual(all.filter((reply) => reply.hung).length, 0, 'no request hit the hang guard');
  const ok = all.filter((reply) => reply.status === 200);
  const full = all.filter((reply) => reply.status === 503);
  assert.equal(ok.length + full.length, all.length, `statuses: ${all.map((reply) => reply.status).join(',')}`);
  assert.ok(ok.length >= 2, `the running and the queued render finish (${ok.length} did)`);
  assert.ok(full.length >= 6, `most of the burst is refused at once (${full.length} were)`);
  for (const reply of ok) await assertChartPng(reply);
  for (const reply of full) {
    assert.equal(errorCode(reply), 'QUEUE_FULL');
    assert.match(reply.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  }
  // Refused at admission: no refused request ever reached the worker (a count, not a time).
  const rendered = pool.stats().workers.reduce((sum, worker) => sum + worker.renders, 0);
  assert.equal(rendered, ok.length, `the worker drew only the accepted renders (${rendered} drawn, ${ok.length} accepted)`);

  assert.equal(pool.stats().queueDepth, 0);
  const readyAgain = await fetch(`${url}/readyz`);
  assert.equal(readyAgain.status, 200);
  await assertChartPng(await render(url));
});

test('deadline: a render past timeoutMs is 504 RENDER_TIMEOUT and its worker is replaced', async (t) => {
  const service = await startTestService({ workers: 1, timeoutMs: 1000 }, { faultHooks: true });
  t.after(() => service.close());
  const { pool, url } = service;
  const [before] = pool.stats().workers;

  const stuck = await render(url, { busyMs: 5000 });
  assert.equal(stuck.hung, false);
  assert.equal(stuck.status, 504);
  assert.equal(errorCode(stuck), 'RENDER_TIMEOUT');
  assert.ok(stuck.ms >= 900 && stuck.ms < 3000, `answered at the deadline, not when the render ended (${stuck.ms} ms)`);
  assert.equal(pool.stats().restarts.deadline, 1);

  // The slot is free again only once the stuck process has exited: the busy render cannot hold it for its 5 s.
  assert.equal(await pool.ready(HANG_GUARD_MS), true, 'a replacement worker became ready');
  assert.equal(isAlive(before!.pid), false, 'the stuck worker process was killed');
  const next = await render(url);
  await assertChartPng(next);
  const { workers, restarts } = pool.stats();
  assert.equal(workers.length, 1, 'the stuck worker was killed, not left spinning');
  assert.notEqual(workers[0]!.pid, before!.pid);
  assert.deepEqual(restarts, { recycled: 0, memory: 0, deadline: 1, crash: 0 });
});

test('crash: a worker out of heap fails only its render (400 RENDER_OUT_OF_MEMORY); one that exits, 500 WORKER_CRASHED', async (t) => {
  const service = await startTestService({ workers: 1, workerHeapMb: 64 }, { faultHooks: true });
  t.after(() => service.close());
  const { pool, url } = service;

  const oom = await render(url, { oom: true });
  assert.equal(oom.hung, false);
  assert.equal(oom.status, 400);
  assert.equal(errorCode(oom), 'RENDER_OUT_OF_MEMORY');
  assert.ok(pool.stats().restarts.crash >= 1);

  for (let i = 0; i < 3; i++) await assertChartPng(await render(url));

  const exited = await render(url, { exit: 3 });
  assert.equal(exited.status, 500);
  assert.equal(errorCode(exited), 'WORKER_CRASHED');
  await assertChartPng(await render(url));
  const { restarts, workers } = pool.stats();
  assert.ok(restarts.crash >= 2, `both crashes counted (${restarts.crash})`);
  assert.equal(restarts.deadline, 0);
  assert.equal(workers.length, 1, 'exactly one replacement per crash');
});

test('recycling: a worker is replaced after maxRendersPerWorker renders, with no request failing', async (t) => {
  const service = await startTestService({ workers: 1, maxRendersPerWorker: 3 }, { faultHooks: true });
  t.after(() => service.close());
  const { pool, url } = service;

  const pids = new Set<number | undefined>();
  for (let i = 0; i < 10; i++) {
    await assertChartPng(await render(url));
    for (const worker of pool.stats().workers) pids.add(worker.pid);
  }
  const { restarts, workers } = pool.stats();
  assert.ok(restarts.recycled >= 2, `recycled ${restarts.recycled} times`);
  assert.equal(restarts.recycled, 3, 'after renders 3, 6 and 9');
  assert.equal(restarts.crash, 0);
  assert.ok(pids.size >= 3, `${pids.size} different worker processes served`);
  assert.ok(workers.every((worker) => worker.renders <= 3));
});

test('rate limit: past rateLimit requests per window, 429 RATE_LIMITED with Retry-After', async (t) => {
  const service = await startTestService({ workers: 1, rateLimit: 3, rateLimitWindowMs: 60_000 }, { faultHooks: true });
  t.after(() => service.close());
  const { url } = service;

  for (let i = 0; i < 3; i++) await assertChartPng(await render(url));
  const limited = await render(url);
  assert.equal(limited.status, 429);
  assert.equal(errorCode(limited), 'RATE_LIMITED');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `retry-after: ${limited.headers.get('retry-after')}`);
  assert.equal((await render(url)).status, 429, 'still limited');
  // Probes are never limited.
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
});

test('client disconnect: a queued request whose client leaves is removed from the queue', async (t) => {
  const service = await startTestService({ workers: 1 }, { faultHooks: true });
  t.after(() => service.close());
  const { pool, url } = service;
  const events: TaskEvent[] = [];
  pool.on('task', (event: TaskEvent) => events.push(event));

  let busyDone = false;
  const busy = render(url, { busyMs: 1500 }).finally(() => {
    busyDone = true;
  });
  await waitFor('the busy render to start', () => pool.stats().inFlight === 1);

  // node:http with its own socket, so that destroying it is exactly a client going away.
  const { hostname, port } = new URL(url);
  const client = httpRequest({ hostname, port, path: '/chart', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
  const clientClosed = new Promise<string>((resolve) => {
    client.on('response', () => resolve('answered'));
    client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  client.end(JSON.stringify({ chart: chartWith(), width: 200, height: 100 }));
  await waitFor('the second request to queue', () => pool.stats().queueDepth === 1);
  client.destroy();
  assert.equal(await clientClosed, 'ECONNRESET');

  await waitFor('the queue to empty', () => pool.stats().queueDepth === 0, 1000);
  assert.equal(busyDone, false, 'the queue emptied while the busy render was still running');
  assert.equal(pool.stats().inFlight, 1);

  await assertChartPng(await busy);
  assert.equal(events.length, 2);
  assert.equal(events.filter((event) => event.error?.code === 'ABORTED').length, 1, 'the queued job ended as ABORTED');
  assert.equal(events.filter((event) => event.error === undefined).length, 1);
  assert.deepEqual(pool.stats().restarts, { recycled: 0, memory: 0, deadline: 0, crash: 0 });
  await assertChartPng(await render(url));
});

test('terminating an idle worker loses no request sent right after', async (t) => {
  const service = await startTestService({ workers: 1 }, { faultHooks: true });
  t.after(() => service.close());
  for (let round = 0; round < 5; round++) {
    const terminated = await fetch(`${service.adminUrl}/debug/workers/0/terminate`, { method: 'POST' });
    assert.equal(terminated.status, 202);
    const response = await fetch(`${service.url}/chart?c=${encodeURIComponent("{type:'bar',data:{datasets:[{data:[1,2]}]}}")}`);
    assert.equal(response.status, 200, `round ${round}: ${await response.text()}`);
    await service.pool.ready();
  }
});
