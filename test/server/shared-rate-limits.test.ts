import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { ServiceOptions } from '../../src/options.js';
import type { RunningService } from '../../src/service.js';
import { assertErrorReply, fetchReply, postJson, type Reply } from '../helpers/replies.js';
import { chartUrl, startTestService } from '../helpers/server.js';
import { startPostgresServer, startRedisServer, type PostgresServer, type RedisServer } from '../helpers/servers.js';
import { eventually } from '../helpers/wait.js';

/**
 * --rate-limit across replicas: with --store redis://... or postgres://..., every
 * replica counts a client's requests in the same place, so N requests spread over
 * two chartd services leave the (N+1)th refused on either. A shared store that dies
 * fails open: /chart answers (uncounted, counted in
 * chartd_rate_limit_store_errors_total), the stored-chart routes are 503
 * STORE_UNAVAILABLE, and counting resumes when it is back.
 */

let redis: RedisServer;
let postgres: PostgresServer;

before(async () => {
  [redis, postgres] = await Promise.all([startRedisServer(), startPostgresServer()]);
});
after(() => Promise.all([redis?.stop(), postgres?.stop()]));

const config = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [2, 1] }] } };
const LIMIT = 5;

function replica(store: string, overrides: Partial<ServiceOptions> = {}): Promise<RunningService> {
  // The render cache on: the requests after the first cost no render, only the count.
  return startTestService({ workers: 1, store, rateLimit: LIMIT, rateLimitWindowMs: 60_000, renderCacheMb: 8, ...overrides });
}

const get = (service: RunningService, width = 120): Promise<Reply> => fetchReply(chartUrl(service.url, { c: JSON.stringify(config), w: width, h: 80 }));

for (const kind of ['redis', 'postgres'] as const) {
  test(`${kind}: ${LIMIT} requests spread over two replicas, then the next on either is 429 with Retry-After`, { timeout: 90_000 }, async (t) => {
    const store = kind === 'redis' ? `${redis.url}/5` : await postgres.createDatabase();
    const [first, second] = await Promise.all([replica(store), replica(store)]);
    t.after(() => Promise.all([first.close(), second.close()]));
    const replicas = [first, second];
    for (let i = 0; i < LIMIT; i++) {
      const reply = await get(replicas[i % 2]!);
      assert.equal(reply.status, 200, `request ${i + 1} (${reply.body.toString().slice(0, 200)})`);
      assert.equal(reply.headers.get('x-ratelimit-remaining'), String(LIMIT - i - 1), `request ${i + 1}: counted once, for both`);
    }
    for (const service of replicas) {
      const limited = await get(service);
      assertErrorReply(limited, 429, 'RATE_LIMITED', `the ${LIMIT + 1}th on ${service.url}`);
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `retry-after: ${limited.headers.get('retry-after')}`);
    }
    // POST counts in the same place.
    assertErrorReply(await postJson(`${second.url}/chart`, { chart: config }), 429, 'RATE_LIMITED', 'POST');
    // Probes are never counted.
    assert.equal((await fetchReply(`${first.url}/readyz`)).status, 200);
  });
}

test('postgres: one row per client in chartd_rate_limits, reset by the first count of a new window', { timeout: 90_000 }, async (t) => {
  const store = await postgres.createDatabase();
  const service = await replica(store, { rateLimitWindowMs: 1_000 });
  t.after(() => service.close());
  assert.equal((await get(service)).status, 200);
  const client = new pg.Client({ connectionString: store });
  await client.connect();
  t.after(() => client.end());
  const { rows } = await client.query<{ key: string; count: string }>('SELECT key, count FROM chartd_rate_limits');
  assert.deepEqual(
    rows.map((row) => [row.key, Number(row.count)]),
    [['ip:127.0.0.1', 1]],
  );
  // A window later the row is reset by the next count, not added to.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const reply = await get(service);
  assert.equal(reply.headers.get('x-ratelimit-remaining'), String(LIMIT - 1), 'a new window');
});

test('redis: killed mid-test, /chart is not limited and not failed (fail-open), stored charts are 503; counting resumes when it is back', { timeout: 120_000 }, async (t) => {
  const own = await startRedisServer();
  t.after(() => own.stop());
  const service = await replica(own.url, { rateLimit: 3 });
  t.after(() => service.close());
  for (let i = 0; i < 3; i++) assert.equal((await get(service)).status, 200);
  assertErrorReply(await get(service), 429, 'RATE_LIMITED', 'before the outage');

  await own.kill('SIGKILL');
  const started = Date.now();
  for (let i = 0; i < 6; i++) {
    const reply = await get(service, 130 + i);
    assert.equal(reply.status, 200, `request ${i + 1} with Redis dead: ${reply.body.toString().slice(0, 200)}`);
  }
  assert.equal((await postJson(`${service.url}/chart`, { chart: config })).status, 200, 'POST /chart too');
  assert.ok(Date.now() - started < 10_000, `seven requests took ${Date.now() - started} ms`);
  assertErrorReply(await postJson(`${service.url}/chart/create`, { chart: config }), 503, 'STORE_UNAVAILABLE', 'create with Redis dead');
  assertErrorReply(await fetchReply(`${service.url}/chart/render/AAAAAAAAAAAAAAAAAAAAAA`), 503, 'STORE_UNAVAILABLE', 'render with Redis dead');
  const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
  const failed = Number(/^chartd_rate_limit_store_errors_total\{store="redis"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
  assert.ok(failed >= 7, `failed counts are counted: ${failed}`);

  await own.start();
  // Back: a fresh Redis (it kept nothing), a fresh count.
  await eventually(async () => assert.equal((await postJson(`${service.url}/chart/create`, { chart: config })).status, 200), 15_000);
  let status = 200;
  for (let i = 0; i < 10 && status === 200; i++) status = (await get(service)).status;
  assert.equal(status, 429, 'limited again once Redis is back');
});

test('postgres: stopped mid-test, /chart answers uncounted (fail-open) and stored charts are 503; counting resumes when it is back', { timeout: 120_000 }, async (t) => {
  const own = await startPostgresServer();
  t.after(() => own.stop());
  const service = await replica(await own.createDatabase(), { rateLimit: 2 });
  t.after(() => service.close());
  for (let i = 0; i < 2; i++) assert.equal((await get(service)).status, 200);
  assertErrorReply(await get(service), 429, 'RATE_LIMITED', 'before the outage');

  await own.kill();
  const started = Date.now();
  for (let i = 0; i < 4; i++) assert.equal((await get(service, 140 + i)).status, 200, `request ${i + 1} with PostgreSQL down`);
  assert.ok(Date.now() - started < 10_000, `four requests took ${Date.now() - started} ms`);
  assertErrorReply(await postJson(`${service.url}/chart/create`, { chart: config }), 503, 'STORE_UNAVAILABLE', 'create with PostgreSQL down');

  await own.start();
  // An immediate stop is a crash to PostgreSQL, whose recovery empties UNLOGGED tables: counting starts over.
  await eventually(async () => assertErrorReply(await get(service), 429, 'RATE_LIMITED', 'once PostgreSQL is back'), 15_000);
});
