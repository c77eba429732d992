import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { ChartdError } from '../../src/errors.js';
import { resolveServiceOptions, resolveStoreSpec } from '../../src/options.js';
import { newChartId, type ChartStore, type ChartStoreBounds } from '../../src/store/chart-store.js';
import { openChartStore } from '../../src/store/open-store.js';
import { body, rejectsWith } from '../helpers/stores.js';
import { PostgresChartStore } from '../../src/store/postgres-store.js';
import { RedisChartStore } from '../../src/store/redis-store.js';
import { SqliteChartStore } from '../../src/store/sqlite-store.js';
import { startPostgresServer, startRedisServer, type PostgresServer, type RedisServer } from '../helpers/servers.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * One contract, three stores: the embedded SQLite file, Redis and PostgreSQL, the
 * last two on real private servers (test/helpers/servers.ts). put and get, expiry,
 * both bounds, an id never replaced, concurrent puts from two store instances (two
 * replicas) never passing a bound, a chart outliving its store being closed and
 * opened again, and server failures as STORE_UNAVAILABLE.
 */

type Kind = 'sqlite' | 'redis' | 'postgres';
const KINDS: Kind[] = ['sqlite', 'redis', 'postgres'];

let redis: RedisServer;
let postgres: PostgresServer;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  // Not installed is a failure with the fix in its message, never a skip: CI installs both.
  [redis, postgres] = await Promise.all([startRedisServer(), startPostgresServer()]);
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

let prefixes = 0;

/** A place for one store of `kind`, empty; open() opens a store on it (as many as a test wants: replicas). */
async function place(kind: Kind): Promise<{ open: (bounds: ChartStoreBounds) => ChartStore }> {
  const opened: ChartStore[] = [];
  cleanups.push(() => Promise.all(opened.map((store) => store.close())).then(() => undefined));
  const track = (store: ChartStore) => (opened.push(store), store);
  switch (kind) {
    case 'sqlite': {
      const dir = mkdtempSync(join(tmpdir(), 'chartd-contract-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return { open: (bounds) => track(new SqliteChartStore(dir, bounds)) };
    }
    case 'redis': {
      const keyPrefix = `chartd-test-${++prefixes}:`;
      return { open: (bounds) => track(new RedisChartStore({ url: redis.url, bounds, keyPrefix })) };
    }
    case 'postgres': {
      const url = await postgres.createDatabase();
      return { open: (bounds) => track(new PostgresChartStore({ url, bounds })) };
    }
  }
}

async function openStore(kind: Kind, bounds: ChartStoreBounds = { maxCharts: 100, maxBytes: 1 << 20 }): Promise<ChartStore> {
  return (await place(kind)).open(bounds);
}

for (const kind of KINDS) {
  test(`${kind}: put and get keep kind, bytes and times; an unknown id is undefined; an id is never replaced`, async () => {
    const store = await openStore(kind, { maxCharts: 10, maxBytes: 1 << 20 });
    const id = newChartId();
    const before = Date.now();
    // Every byte value survives (bodies are bytes, not text).
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await store.put(id, { kind: 'form', body: binary }, before + 60_000);
    const got = await store.get(id);
    assert.ok(got);
    assert.equal(got.kind, 'form');
    assert.deepEqual(got.body, binary);
    assert.equal(got.expiresAt, before + 60_000);
    assert.ok(got.createdAt >= before && got.createdAt <= Date.now());
    assert.equal(await store.get(newChartId()), undefined);
    assert.deepEqual(await store.stats(), { charts: 1, bytes: 256, maxCharts: 10, maxBytes: 1 << 20 });

    await rejectsWith(store.put(id, body('{"other":1}'), Date.now() + 60_000), 'STORE_UNAVAILABLE');
    assert.deepEqual((await store.get(id))?.body, binary, 'the first chart stays');
    assert.equal((await store.stats()).charts, 1, 'a refused put counts nothing');
    const json = newChartId();
    await store.put(json, body('{"chart":{}}'), Date.now() + 60_000);
    assert.equal((await store.get(json))?.kind, 'json');
  });

  test(`${kind}: expired charts are never returned; deleteExpired drops them (in batches) and frees their room`, { timeout: 60_000 }, async () => {
    const store = await openStore(kind, { maxCharts: 3, maxBytes: 1 << 20 });
    const now = Date.now();
    const old = newChartId();
    const fresh = newChartId();
    await store.put(old, body('{"chart":1}'), now + 1_000);
    await store.put(fresh, body('{"chart":2}'), now + 100_000);
    assert.ok(await store.get(old, now));
    assert.equal(await store.get(old, now + 1_000), undefined, 'expired at its expiry');
    assert.equal(await store.deleteExpired(now + 1_000), 1);
    assert.deepEqual(await store.stats(), { charts: 1, bytes: 11, maxCharts: 3, maxBytes: 1 << 20 });
    assert.ok(await store.get(fresh, now + 1_000));
    assert.equal(await store.deleteExpired(now + 1_000), 0);

    const many = await openStore(kind, { maxCharts: 5_000, maxBytes: 1 << 30 });
    for (let i = 0; i < 1_200; i += 50) await Promise.all(Array.from({ length: 50 }, () => many.put(newChartId(), body('{}'), now + 10)));
    assert.equal((await many.stats()).charts, 1_200);
    assert.equal(await many.deleteExpired(now + 10), 1_200);
    assert.deepEqual(await many.stats(), { charts: 0, bytes: 0, maxCharts: 5_000, maxBytes: 1 << 30 });
  });

  test(`${kind}: the count and byte bounds refuse with STORE_FULL, after dropping what has expired`, async () => {
    const store = await openStore(kind, { maxCharts: 2, maxBytes: 100 });
    const now = Date.now();
    await store.put(newChartId(), body('a'.repeat(40)), now + 100_000);
    await store.put(newChartId(), body('b'.repeat(40)), now + 100_000);
    const full = await rejectsWith(store.put(newChartId(), body('c'), now + 100_000), 'STORE_FULL');
    assert.match(full.message, /--store-max-charts/);
    assert.equal(full.statusCode, 507);
    await rejectsWith(store.checkRoom(1), 'STORE_FULL');

    const bytes = await openStore(kind, { maxCharts: 100, maxBytes: 100 });
    await bytes.put(newChartId(), body('x'.repeat(60)), Date.now() + 100_000);
    assert.match((await rejectsWith(bytes.put(newChartId(), body('y'.repeat(41)), Date.now() + 100_000), 'STORE_FULL')).message, /--store-max-mb/);
    await bytes.put(newChartId(), body('y'.repeat(40)), Date.now() + 100_000);
    assert.deepEqual(await bytes.stats(), { charts: 2, bytes: 100, maxCharts: 100, maxBytes: 100 });

    // Room comes back as charts expire, without anyone calling deleteExpired.
    const expiring = await openStore(kind, { maxCharts: 1, maxBytes: 100 });
    await expiring.stats(); // the schema first: creating it took over 50 ms on a loaded machine, which let 'old' expire before the refusal (CI)
    const oldExpiresAt = Date.now() + 1_500;
    await expiring.put(newChartId(), body('old'), oldExpiresAt);
    await rejectsWith(expiring.put(newChartId(), body('new'), Date.now() + 100_000), 'STORE_FULL');
    await sleep(oldExpiresAt + 30 - Date.now());
    const id = newChartId();
    await expiring.put(id, body('new'), Date.now() + 100_000);
    assert.deepEqual(await expiring.stats(), { charts: 1, bytes: 3, maxCharts: 1, maxBytes: 100 });
    assert.equal((await expiring.get(id))?.body.toString(), 'new');
  });

  test(`${kind}: concurrent puts from two replicas never pass either bound`, { timeout: 60_000 }, async () => {
    for (const [bounds, size, expected] of [
      [{ maxCharts: 10, maxBytes: 1 << 20 }, 10, 10],
      [{ maxCharts: 1_000, maxBytes: 1_000 }, 100, 10],
    ] as const) {
      const shared = await place(kind);
      const replicas = [shared.open(bounds), shared.open(bounds)];
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => replicas[i % 2]!.put(newChartId(), body('z'.repeat(size)), Date.now() + 100_000)),
      );
      const stored = results.filter((result) => result.status === 'fulfilled').length;
      const refusals = results.flatMap((result) => (result.status === 'rejected' ? [(result.reason as ChartdError).code] : []));
      assert.equal(stored, expected, `${JSON.stringify(bounds)}: stored ${stored}, refusals ${refusals.join(',')}`);
      assert.deepEqual(new Set(refusals), new Set(['STORE_FULL']));
      for (const replica of replicas) assert.deepEqual(await replica.stats(), { charts: expected, bytes: expected * size, ...bounds });
    }
  });

  test(`${kind}: a chart outlives closing and reopening its store; a closed store is STORE_UNAVAILABLE`, async () => {
    const shared = await place(kind);
    const bounds = { maxCharts: 10, maxBytes: 1 << 20 };
    const first = shared.open(bounds);
    const id = newChartId();
    await first.put(id, body('{"chart":{"type":"bar"}}'), Date.now() + 60_000);
    await first.close();
    await first.close(); // idempotent
    await rejectsWith(first.get(id), 'STORE_UNAVAILABLE');
    await rejectsWith(first.put(newChartId(), body('{}'), Date.now() + 60_000), 'STORE_UNAVAILABLE');
    const second = shared.open(bounds);
    assert.equal((await second.get(id))?.body.toString(), '{"chart":{"type":"bar"}}');
    assert.equal((await second.stats()).charts, 1);
  });
}

test('redis: a chart is a hash that Redis expires itself (PEXPIREAT); the index follows with deleteExpired', async (t) => {
  const keyPrefix = `chartd-layout-${++prefixes}:`;
  const store = new RedisChartStore({ url: redis.url, bounds: { maxCharts: 10, maxBytes: 1 << 20 }, keyPrefix });
  const raw = new Redis(redis.url);
  t.after(() => Promise.all([store.close(), raw.quit()]));
  const id = newChartId();
  const expiresAt = Date.now() + 60_000;
  await store.put(id, body('{"a":1}'), expiresAt);
  assert.equal(await raw.pexpiretime(`${keyPrefix}chart:${id}`), expiresAt);
  assert.equal(await raw.hget(`${keyPrefix}chart:${id}`, 'k'), 'json');
  assert.equal(Number(await raw.zscore(`${keyPrefix}charts:expiry`, id)), expiresAt);

  const short = newChartId();
  await store.put(short, body('{"b":2}'), Date.now() + 30);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(await raw.exists(`${keyPrefix}chart:${short}`), 0, 'Redis dropped the expired chart by itself');
  assert.equal(await store.get(short), undefined);
  assert.equal((await store.stats()).charts, 2, 'still counted until the index is cleaned');
  assert.equal(await store.deleteExpired(), 1);
  assert.deepEqual(await store.stats(), { charts: 1, bytes: 7, maxCharts: 10, maxBytes: 1 << 20 });
});

test('redis: a dead or frozen server is STORE_UNAVAILABLE within the command timeout, and the store recovers by itself', { timeout: 60_000 }, async (t) => {
  const own = await startRedisServer();
  t.after(() => own.stop());
  const store = new RedisChartStore({ url: own.url, bounds: { maxCharts: 10, maxBytes: 1 << 20 }, commandTimeoutMs: 500 });
  t.after(() => store.close());
  const id = newChartId();
  await store.put(id, body('{}'), Date.now() + 60_000);

  await own.kill('SIGKILL');
  let started = Date.now();
  const refused = await rejectsWith(store.get(id), 'STORE_UNAVAILABLE');
  assert.ok(Date.now() - started < 1_000, `refused in ${Date.now() - started} ms`);
  assert.match(refused.message, /\/chart is not affected/);
  await rejectsWith(store.put(newChartId(), body('{}'), Date.now() + 60_000), 'STORE_UNAVAILABLE');

  await own.start();
  await eventually(async () => assert.equal(await store.get(id), undefined, 'an empty Redis (no persistence here) after its restart'));
  await store.put(newChartId(), body('{}'), Date.now() + 60_000);

  // Frozen (SIGSTOP): a command waits at most commandTimeoutMs.
  await own.kill('SIGSTOP');
  try {
    started = Date.now();
    await rejectsWith(store.get(id), 'STORE_UNAVAILABLE');
    const took = Date.now() - started;
    assert.ok(took >= 400 && took < 1_500, `a frozen Redis answered STORE_UNAVAILABLE after ${took} ms`);
  } finally {
    await own.kill('SIGCONT');
  }
  await eventually(async () => assert.equal((await store.stats()).charts, 1));
});

test('postgres: the schema is created once by replicas starting together, and a later schema is refused', async (t) => {
  const url = await postgres.createDatabase();
  const bounds = { maxCharts: 10, maxBytes: 1 << 20 };
  const replicas = Array.from({ length: 4 }, () => new PostgresChartStore({ url, bounds }));
  t.after(() => Promise.all(replicas.map((store) => store.close())));
  await Promise.all(replicas.map((store, i) => store.put(newChartId(), body(`{"n":${i}}`), Date.now() + 60_000)));
  assert.equal((await replicas[0]!.stats()).charts, 4);

  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.after(() => client.end());
  // An operator's DELETE is counted out too (the totals are kept by triggers).
  await client.query('DELETE FROM chartd_charts WHERE id IN (SELECT id FROM chartd_charts LIMIT 1)');
  assert.equal((await replicas[1]!.stats()).charts, 3);
  assert.equal((await client.query('SELECT pg_typeof(body)::text AS t FROM chartd_charts LIMIT 1')).rows[0].t, 'bytea');

  await client.query('UPDATE chartd_schema SET version = 99');
  const later = new PostgresChartStore({ url, bounds });
  t.after(() => later.close());
  assert.match((await rejectsWith(later.get(newChartId()), 'STORE_UNAVAILABLE')).message, /schema version 99/);
});

test('postgres: a server that is down is STORE_UNAVAILABLE at once, and the store recovers when it is back', { timeout: 120_000 }, async (t) => {
  const own = await startPostgresServer();
  t.after(() => own.stop());
  const url = await own.createDatabase();
  const store = new PostgresChartStore({ url, bounds: { maxCharts: 10, maxBytes: 1 << 20 } });
  t.after(() => store.close());
  const id = newChartId();
  await store.put(id, body('{"kept":true}'), Date.now() + 60_000);

  await own.kill();
  const started = Date.now();
  await rejectsWith(store.get(id), 'STORE_UNAVAILABLE');
  await rejectsWith(store.put(newChartId(), body('{}'), Date.now() + 60_000), 'STORE_UNAVAILABLE');
  assert.ok(Date.now() - started < 2_500, `refused in ${Date.now() - started} ms`);

  await own.start();
  await eventually(async () => assert.equal((await store.get(id))?.body.toString(), '{"kept":true}', 'committed charts survive the restart'));
  await store.put(newChartId(), body('{}'), Date.now() + 60_000);
  assert.equal((await store.stats()).charts, 2);
});

test('postgres: a frozen server (SIGSTOP) is STORE_UNAVAILABLE within the statement and connect timeouts, and close() does not wait for it', { timeout: 60_000 }, async (t) => {
  const own = await startPostgresServer();
  t.after(() => own.stop());
  const url = await own.createDatabase();
  const store = new PostgresChartStore({ url, bounds: { maxCharts: 10, maxBytes: 1 << 20 }, statementTimeoutMs: 500, connectTimeoutMs: 1_000, maxConnections: 2 });
  const id = newChartId();
  await store.put(id, body('{}'), Date.now() + 60_000);
  own.signalAll('SIGSTOP');
  try {
    const started = Date.now();
    // On a connection already open (the client gives up 1 s after the statement timeout), and on a new one.
    const results = await Promise.allSettled([store.get(id), store.get(id), store.get(id)]);
    const took = Date.now() - started;
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal((result.reason as ChartdError).code, 'STORE_UNAVAILABLE', String(result.reason));
    }
    assert.ok(took < 4_000, `a frozen PostgreSQL answered STORE_UNAVAILABLE after ${took} ms`);
    const closing = Date.now();
    await store.close();
    assert.ok(Date.now() - closing < 3_000, `close took ${Date.now() - closing} ms`);
  } finally {
    own.signalAll('SIGCONT');
  }
});

test('--store names sqlite, a Redis URL or a PostgreSQL URL, and hides passwords in what it reports', async (t) => {
  assert.equal(resolveServiceOptions({}, {}).store, 'sqlite');
  assert.equal(resolveServiceOptions({ store: 'redis://cache:6379/2' }, {}).store, 'redis://cache:6379/2');
  assert.equal(resolveServiceOptions({}, { CHARTD_STORE: 'postgresql://u@db/charts' }).store, 'postgresql://u@db/charts');
  assert.deepEqual(resolveStoreSpec('rediss://:pw@cache:6380'), { type: 'redis', url: 'rediss://:pw@cache:6380' });
  assert.deepEqual(resolveStoreSpec('postgres://u:pw@db:5432/charts?sslmode=require'), { type: 'postgres', url: 'postgres://u:pw@db:5432/charts?sslmode=require' });
  for (const bad of ['mysql://db/charts', 'redis://', 'redis', 'memory', '/var/lib/chartd', 'http://u:secret@db']) {
    assert.throws(
      () => resolveServiceOptions({ store: bad }, {}),
      (error: Error) => /--store must be sqlite, a redis:\/\/ or rediss:\/\/ URL/.test(error.message) && !error.message.includes('secret'),
      bad,
    );
  }
  const bounds = { storeMaxCharts: 10, storeMaxMb: 1, dataDir: '/nonexistent' };
  const { store: viaRedis, error } = openChartStore({ ...bounds, store: 'redis://:s3cret@127.0.0.1:1/0' });
  t.after(() => viaRedis.close());
  assert.equal(error, undefined, 'a server store opens without waiting for its server');
  assert.ok(viaRedis instanceof RedisChartStore);
  assert.equal(viaRedis.description, 'redis://:***@127.0.0.1:1/0');
  assert.ok(!(await rejectsWith(viaRedis.get(newChartId()), 'STORE_UNAVAILABLE')).message.includes('s3cret'));
  const { store: viaPostgres } = openChartStore({ ...bounds, store: 'postgres://chartd:s3cret@127.0.0.1:1/none' });
  t.after(() => viaPostgres.close());
  assert.ok(viaPostgres instanceof PostgresChartStore);
  assert.equal(viaPostgres.description, 'postgres://chartd:***@127.0.0.1:1/none');
  // Nothing listens on port 1: a store that cannot connect is STORE_UNAVAILABLE, and says why without the password.
  const refused = await rejectsWith(viaPostgres.get(newChartId()), 'STORE_UNAVAILABLE');
  assert.ok(!refused.message.includes('s3cret'), refused.message);
});

