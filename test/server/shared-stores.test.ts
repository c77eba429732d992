import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ServiceOptions } from '../../src/options.js';
import type { RunningService } from '../../src/service.js';
import { newChartId } from '../../src/store/chart-store.js';
import { decodeImage, differingFraction } from '../helpers/images.js';
import { assertErrorReply, fetchReply, postJson } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';
import { startPostgresServer, startRedisServer, type PostgresServer, type RedisServer } from '../helpers/servers.js';
import { eventually } from '../helpers/wait.js';

/**
 * Stored charts shared by replicas through --store redis://... and postgres://...,
 * on real private servers: a URL created through one chartd renders through a second
 * one, and after the first is restarted; an outage of the store (redis-server killed
 * or frozen, PostgreSQL stopped) is 503 STORE_UNAVAILABLE on the stored-chart routes
 * while /chart answers 200, and the routes recover by themselves when it is back.
 */

let redis: RedisServer;
let postgres: PostgresServer;

before(async () => {
  [redis, postgres] = await Promise.all([startRedisServer(), startPostgresServer()]);
});
after(() => Promise.all([redis?.stop(), postgres?.stop()]));

const chart = { chart: { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [3, 5], backgroundColor: 'rgb(255, 0, 0)' }] } }, width: 200, height: 100 };

async function replica(store: string, overrides: Partial<ServiceOptions> = {}): Promise<RunningService> {
  // The render cache on, as in production: a second replica must still render from the store, not from a cache.
  return startTestService({ workers: 1, store, renderCacheMb: 8, ...overrides });
}

async function create(service: RunningService): Promise<string> {
  const reply = await postJson(`${service.url}/chart/create`, chart);
  assert.equal(reply.status, 200, reply.body.toString());
  const { url } = JSON.parse(reply.body.toString()) as { url: string };
  const id = /\/chart\/render\/([\w-]{22})$/.exec(url)?.[1];
  assert.ok(id, url);
  return id;
}

for (const kind of ['redis', 'postgres'] as const) {
  test(`${kind}: a chart created through one replica renders through another, and after the first is restarted`, { timeout: 120_000 }, async (t) => {
    const store = kind === 'redis' ? `${redis.url}/3` : await postgres.createDatabase();
    const first = await replica(store);
    const second = await replica(store);
    t.after(() => Promise.all([first.close(), second.close()]));
    const id = await create(first);
    const viaFirst = await fetchReply(`${first.url}/chart/render/${id}`);
    assert.equal(viaFirst.status, 200);
    assert.equal(viaFirst.headers.get('x-cache'), 'HIT', 'the creating replica cached its validation render');
    const viaSecond = await fetchReply(`${second.url}/chart/render/${id}`);
    assert.equal(viaSecond.status, 200, viaSecond.body.toString());
    assert.equal(viaSecond.headers.get('x-cache'), 'MISS', 'the second replica read the store and rendered');
    assert.equal(viaSecond.headers.get('etag'), viaFirst.headers.get('etag'));
    assert.equal(differingFraction(await decodeImage(viaSecond.body), await decodeImage(viaFirst.body)), 0);
    // Template overrides work on the other replica as well.
    const overridden = await fetchReply(`${second.url}/chart/render/${id}?data1=5,3&w=300`);
    assert.equal(overridden.status, 200);
    assert.equal((await decodeImage(overridden.body)).width, 600);
    assert.equal((await second.store.stats()).charts, 1, 'both replicas count the same store');

    await first.close();
    const restarted = await replica(store);
    t.after(() => restarted.close());
    const afterRestart = await fetchReply(`${restarted.url}/chart/render/${id}`);
    assert.equal(afterRestart.status, 200);
    assert.equal(afterRestart.headers.get('etag'), viaFirst.headers.get('etag'));
    // The bound is the store's, whichever replica asks: two charts stored, the limit is 2.
    const bounded = await replica(store, { storeMaxCharts: 2 });
    t.after(() => bounded.close());
    await create(restarted);
    assertErrorReply(await postJson(`${bounded.url}/chart/create`, chart), 507, 'STORE_FULL', 'the third chart of the shared store');
  });
}

test('redis: killed mid-test, the stored-chart routes are 503 STORE_UNAVAILABLE at once while /chart answers 200; they recover when it is back', { timeout: 120_000 }, async (t) => {
  const own = await startRedisServer();
  t.after(() => own.stop());
  const service = await replica(own.url);
  t.after(() => service.close());
  const id = await create(service);
  assert.equal((await fetchReply(`${service.url}/chart/render/${id}?w=150`)).status, 200);

  await own.kill('SIGKILL');
  const started = Date.now();
  const refused = await postJson(`${service.url}/chart/create`, chart);
  assertErrorReply(refused, 503, 'STORE_UNAVAILABLE', 'create with Redis dead');
  assert.equal(refused.headers.get('retry-after'), '5');
  // A render that is not in the render cache needs the store: 503 too.
  assertErrorReply(await fetchReply(`${service.url}/chart/render/${id}?w=160`), 503, 'STORE_UNAVAILABLE', 'render with Redis dead');
  assertErrorReply(await fetchReply(`${service.url}/chart/render/${newChartId()}`), 503, 'STORE_UNAVAILABLE', 'unknown id with Redis dead');
  assert.ok(Date.now() - started < 3_000, `three refusals took ${Date.now() - started} ms`);
  assert.equal((await postJson(`${service.url}/chart`, chart)).status, 200, '/chart is not affected');
  assert.equal((await fetchReply(`${service.url}/chart?c=${encodeURIComponent(JSON.stringify(chart.chart))}`)).status, 200);
  assert.equal((await fetchReply(`${service.url}/readyz`)).status, 200, 'readiness follows the workers, not the store');

  await own.start();
  const recovered = Date.now();
  await eventually(async () => assert.equal((await postJson(`${service.url}/chart/create`, chart)).status, 200));
  assert.ok(Date.now() - recovered < 5_000, `recovered in ${Date.now() - recovered} ms`);
  const fresh = await create(service);
  assert.equal((await fetchReply(`${service.url}/chart/render/${fresh}?w=170`)).status, 200);
  // This test's Redis keeps nothing on disk (--save ''): what it held before is gone, a coded 404.
  assertErrorReply(await fetchReply(`${service.url}/chart/render/${id}?w=180`), 404, 'CHART_NOT_FOUND', 'a chart the restarted Redis lost');
});

test('redis: frozen (SIGSTOP), requests get 503 within the command timeout instead of hanging', { timeout: 120_000 }, async (t) => {
  const own = await startRedisServer();
  t.after(() => own.stop());
  const service = await replica(own.url);
  t.after(() => service.close());
  const id = await create(service);
  await own.kill('SIGSTOP');
  try {
    const started = Date.now();
    const replies = await Promise.all([
      postJson(`${service.url}/chart/create`, chart),
      fetchReply(`${service.url}/chart/render/${id}?w=150`),
      postJson(`${service.url}/chart`, chart),
    ]);
    const took = Date.now() - started;
    assertErrorReply(replies[0], 503, 'STORE_UNAVAILABLE', 'create with Redis frozen');
    assertErrorReply(replies[1], 503, 'STORE_UNAVAILABLE', 'render with Redis frozen');
    assert.equal(replies[2].status, 200, '/chart is not affected');
    assert.ok(took < 5_000, `answered in ${took} ms (command timeout 2 s)`);
  } finally {
    await own.kill('SIGCONT');
  }
  await eventually(async () => assert.equal((await fetchReply(`${service.url}/chart/render/${id}?w=150`)).status, 200));
});

test('postgres: stopped mid-test, the stored-chart routes are 503 while /chart answers 200; charts are there again when it is back', { timeout: 120_000 }, async (t) => {
  const own = await startPostgresServer();
  t.after(() => own.stop());
  const service = await replica(await own.createDatabase());
  t.after(() => service.close());
  const id = await create(service);

  await own.kill();
  const started = Date.now();
  assertErrorReply(await postJson(`${service.url}/chart/create`, chart), 503, 'STORE_UNAVAILABLE', 'create with PostgreSQL down');
  assertErrorReply(await fetchReply(`${service.url}/chart/render/${id}?w=150`), 503, 'STORE_UNAVAILABLE', 'render with PostgreSQL down');
  assert.ok(Date.now() - started < 5_000, `refusals took ${Date.now() - started} ms`);
  assert.equal((await postJson(`${service.url}/chart`, chart)).status, 200, '/chart is not affected');

  await own.start();
  await eventually(async () => assert.equal((await fetchReply(`${service.url}/chart/render/${id}?w=150`)).status, 200));
  assert.equal((await postJson(`${service.url}/chart/create`, chart)).status, 200);
});
