import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fetchReply, postFrom, type Reply } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 9: one client must not starve the others. Each client has a budget of
 * worker time per window; past it, while another client has work waiting, it
 * gets 429 CLIENT_BUDGET_EXCEEDED. Clients are socket addresses, or the
 * forwarded address when --trust-proxy names the proxy.
 */

const heavy = { chart: { type: 'bar', data: { datasets: [{ data: [1, 2] }] }, options: { plugins: { chartdTest: { busyMs: 300 } } } }, width: 200, height: 100, devicePixelRatio: 1 };
const light = { chart: { type: 'bar', data: { datasets: [{ data: [3, 4] }] } }, width: 200, height: 100, devicePixelRatio: 1 };

test('issue 9: a client looping heavy renders is held to its budget while another client waits; the other is served', async (t) => {
  // 25 % of one worker over 3 s: 750 ms of worker time, two and a half heavy renders.
  const service = await startTestService({ workers: 1, queue: 16, clientBudgetPercent: 25, clientBudgetWindowMs: 3000 }, { faultHooks: true });
  t.after(() => service.close());
  const url = `${service.url}/chart`;
  const greedy: Reply[] = [];
  let stop = false;
  const loops = Array.from({ length: 3 }, async () => {
    while (!stop) greedy.push(await postFrom(url, heavy, { localAddress: '127.0.0.1' }));
  });
  // Let the greedy client use its budget first.
  await waitFor('the greedy client to be answered 4 times', () => greedy.length >= 4, 30_000, 20);
  const polite: Reply[] = [];
  for (let i = 0; i < 6; i++) polite.push(await postFrom(url, light, { localAddress: '127.0.0.2' }));
  stop = true;
  await Promise.all(loops);

  assert.deepEqual(
    polite.map((reply) => reply.status),
    [200, 200, 200, 200, 200, 200],
    'the polite client is never refused',
  );
  const refused = greedy.filter((reply) => reply.status === 429);
  assert.ok(refused.length >= 1, `the greedy client was held back (${greedy.map((reply) => reply.status).join(',')})`);
  for (const reply of refused) {
    assert.equal(reply.code, 'CLIENT_BUDGET_EXCEEDED');
    assert.match(reply.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
  }
  assert.ok(greedy.every((reply) => reply.status === 200 || reply.status === 429), greedy.map((reply) => reply.status).join(','));
});

test('issue 9: a client alone is never held to its budget: nobody else is waiting', async (t) => {
  const service = await startTestService({ workers: 1, queue: 16, clientBudgetPercent: 10, clientBudgetWindowMs: 10_000 }, { faultHooks: true });
  t.after(() => service.close());
  const replies = await Promise.all(Array.from({ length: 8 }, () => postFrom(`${service.url}/chart`, heavy)));
  assert.deepEqual(
    replies.map((reply) => reply.status),
    Array(8).fill(200),
  );
});

test('issue 9: behind a trusted proxy, clients are the forwarded addresses; without --trust-proxy the header is ignored', async (t) => {
  const trusted = await startTestService({ workers: 1, rateLimit: 2, rateLimitWindowMs: 60_000, trustProxy: '127.0.0.1' });
  t.after(() => trusted.close());
  const send = (base: string, forwarded: string) => postFrom(`${base}/chart`, light, { headers: { 'x-forwarded-for': forwarded } });
  for (let i = 0; i < 2; i++) assert.equal((await send(trusted.url, '203.0.113.7')).status, 200);
  const limited = await send(trusted.url, '203.0.113.7');
  assert.equal(limited.status, 429);
  assert.equal(limited.code, 'RATE_LIMITED');
  assert.equal((await send(trusted.url, '198.51.100.9')).status, 200, 'another forwarded client has its own count');

  const untrusted = await startTestService({ workers: 1, rateLimit: 2, rateLimitWindowMs: 60_000 });
  t.after(() => untrusted.close());
  for (let i = 0; i < 2; i++) assert.equal((await send(untrusted.url, `203.0.113.${i}`)).status, 200);
  assert.equal((await send(untrusted.url, '198.51.100.9')).status, 429, 'a forged X-Forwarded-For does not buy a new count');
});

test('issue 9: health probes are never rate limited, whatever their query string', async (t) => {
  const service = await startTestService({ workers: 1, rateLimit: 1, rateLimitWindowMs: 60_000 });
  t.after(() => service.close());
  for (let i = 0; i < 5; i++) {
    assert.equal((await fetchReply(`${service.url}/healthz?probe=${i}`)).status, 200);
    assert.equal((await fetchReply(`${service.url}/readyz?from=k8s`)).status, 200);
  }
});

test('issue 9: a client that floods the queue cannot shut another out: its newest renders make room, and the other is served next', async (t) => {
  const service = await startTestService({ workers: 1, queue: 6, maxQueueWaitMs: 0, clientBudgetPercent: 25, clientBudgetWindowMs: 60_000 }, { faultHooks: true });
  t.after(() => service.close());
  const url = `${service.url}/chart`;
  const finished: string[] = [];
  const send = (who: string, body: object, localAddress: string) =>
    postFrom(url, body, { localAddress }).then((reply) => {
      finished.push(`${who}:${reply.status}`);
      return reply;
    });
  // The flood: one running, six queued, the rest refused (a full queue, one client).
  const flood = Array.from({ length: 12 }, () => send('flood', heavy, '127.0.0.1'));
  await waitFor('the flood to fill the queue', () => service.pool.stats().queueDepth === 6, 10_000, 5);
  const other = await Promise.all(Array.from({ length: 3 }, () => send('other', light, '127.0.0.2')));
  await Promise.all(flood);

  assert.deepEqual(
    other.map((reply) => reply.status),
    [200, 200, 200],
    `the other client was admitted into the full queue: ${finished.join(' ')}`,
  );
  const displaced = (await Promise.all(flood)).filter((reply) => reply.status === 503);
  assert.ok(displaced.length >= 3 + 5, `the flood's own overflow and three of its queued renders were refused: ${finished.join(' ')}`);
  for (const reply of displaced) assert.equal(reply.code, 'QUEUE_FULL');
  // Served next, ahead of the flood's older queued renders: the worker goes to the client with none running.
  const firstOther = finished.indexOf('other:200');
  const floodServedBefore = finished.slice(0, firstOther).filter((entry) => entry === 'flood:200').length;
  assert.ok(floodServedBefore <= 2, `the other client waited behind ${floodServedBefore} of the flood's renders: ${finished.join(' ')}`);
});

test('issue 9: the queue is bounded by its expected wait too: heavy renders are shed before they would wait past --max-queue-wait', async (t) => {
  // 300 ms renders on one worker: a wait bound of 700 ms holds about two queued, a sixteen-place queue would hold all.
  const service = await startTestService({ workers: 1, queue: 16, maxQueueWaitMs: 700, clientBudgetPercent: 0 }, { faultHooks: true });
  t.after(() => service.close());
  const url = `${service.url}/chart`;
  assert.equal((await postFrom(url, heavy)).status, 200, 'a first render teaches the pool the render time');
  const replies = await Promise.all(Array.from({ length: 10 }, () => postFrom(url, heavy)));
  const statuses = replies.map((reply) => reply.status);
  const shed = replies.filter((reply) => reply.status === 503);
  assert.ok(shed.length >= 5, `shed by the wait bound: ${statuses.join(',')}`);
  for (const reply of shed) {
    assert.equal(reply.code, 'QUEUE_FULL');
    assert.match(reply.body.toString(), /would keep a new one waiting/);
  }
  assert.ok(statuses.filter((status) => status === 200).length >= 2, statuses.join(','));
});
