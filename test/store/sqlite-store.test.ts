import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isChartId, newChartId } from '../../src/store/chart-store.js';
import { openChartStore } from '../../src/store/open-store.js';
import { body, rejectsWith } from '../helpers/stores.js';
import { sleep } from '../helpers/wait.js';
import { SQLITE_FILE, SqliteChartStore } from '../../src/store/sqlite-store.js';

/** The embedded store on a real SQLite file: bounds, expiry, durability across reopening, failures as codes. */

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'chartd-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


test('ids are 128 random bits in base64url, and only that form is an id', () => {
  const ids = new Set(Array.from({ length: 1000 }, () => newChartId()));
  assert.equal(ids.size, 1000);
  for (const id of ids) {
    assert.equal(id.length, 22);
    assert.equal(Buffer.from(id, 'base64url').length, 16);
    assert.ok(isChartId(id));
  }
  for (const bad of ['', '__proto__', 'constructor', 'a'.repeat(21), 'a'.repeat(23), `${'a'.repeat(21)}.`, `${'a'.repeat(21)}=`, 42, undefined]) {
    assert.equal(isChartId(bad), false, String(bad));
  }
});

test('put, get and the file: WAL mode, private permissions, a directory created if missing', async (t) => {
  const dir = join(tempDir(t), 'nested', 'data');
  const store = new SqliteChartStore(dir, { maxCharts: 10, maxBytes: 1 << 20 });
  t.after(() => store.close());
  const id = newChartId();
  await store.put(id, { kind: 'form', body: Buffer.from('chart=%7B%7D&w=3') }, Date.now() + 60_000);
  const got = await store.get(id);
  assert.ok(got);
  assert.equal(got.kind, 'form');
  assert.equal(got.body.toString(), 'chart=%7B%7D&w=3');
  assert.ok(got.expiresAt > got.createdAt);
  assert.equal(await store.get(newChartId()), undefined);
  assert.deepEqual(await store.stats(), { charts: 1, bytes: 16, maxCharts: 10, maxBytes: 1 << 20 });
  assert.equal(statSync(join(dir, SQLITE_FILE)).mode & 0o777, 0o600);
  // An id is never replaced.
  await rejectsWith(store.put(id, body('{}'), Date.now() + 60_000), 'STORE_UNAVAILABLE');
  assert.equal((await store.get(id))?.body.toString(), 'chart=%7B%7D&w=3');

  const reader = new Database(join(dir, SQLITE_FILE), { readonly: true });
  t.after(() => reader.close());
  assert.equal(reader.pragma('journal_mode', { simple: true }), 'wal');
});

// Expiry and batched deletion: store-contract.test.ts, which runs the same contract on this store.

test('the count and byte bounds refuse with STORE_FULL, after dropping what has expired', async (t) => {
  const store = new SqliteChartStore(tempDir(t), { maxCharts: 2, maxBytes: 100 });
  t.after(() => store.close());
  const now = Date.now();
  await store.put(newChartId(), body('a'.repeat(40)), now + 100_000);
  await store.put(newChartId(), body('b'.repeat(40)), now + 100_000);
  const full = await rejectsWith(store.put(newChartId(), body('c'), now + 100_000), 'STORE_FULL');
  assert.match(full.message, /--store-max-charts/);
  await rejectsWith(store.checkRoom(1), 'STORE_FULL');
  assert.equal(full.statusCode, 507);

  const bytes = new SqliteChartStore(tempDir(t), { maxCharts: 100, maxBytes: 100 });
  t.after(() => bytes.close());
  await bytes.put(newChartId(), body('x'.repeat(60)), Date.now() + 100_000);
  assert.match((await rejectsWith(bytes.put(newChartId(), body('y'.repeat(41)), Date.now() + 100_000), 'STORE_FULL')).message, /--store-max-mb/);
  await bytes.put(newChartId(), body('y'.repeat(40)), Date.now() + 100_000);

  // Room comes back as charts expire.
  const expiring = new SqliteChartStore(tempDir(t), { maxCharts: 1, maxBytes: 100 });
  t.after(() => expiring.close());
  // Half a second of life: a loaded CI machine can pause longer than 50 ms between two puts.
  const oldExpiresAt = Date.now() + 500;
  await expiring.put(newChartId(), body('old'), oldExpiresAt);
  await rejectsWith(expiring.put(newChartId(), body('new'), Date.now() + 100_000), 'STORE_FULL');
  await sleep(oldExpiresAt + 30 - Date.now());
  await expiring.put(newChartId(), body('new'), Date.now() + 100_000);
  assert.equal((await expiring.stats()).charts, 1);
});

test('a chart outlives closing and reopening the file', async (t) => {
  const dir = tempDir(t);
  const first = new SqliteChartStore(dir, { maxCharts: 10, maxBytes: 1 << 20 });
  const id = newChartId();
  await first.put(id, body('{"chart":{"type":"bar"}}'), Date.now() + 60_000);
  await first.close();
  await first.close(); // idempotent
  await rejectsWith(first.get(id), 'STORE_UNAVAILABLE');
  const second = new SqliteChartStore(dir, { maxCharts: 10, maxBytes: 1 << 20 });
  t.after(() => second.close());
  assert.equal((await second.get(id))?.body.toString(), '{"chart":{"type":"bar"}}');
  assert.equal((await second.stats()).charts, 1);
});

test('a store that cannot be opened answers STORE_UNAVAILABLE to every call', async (t) => {
  const file = join(tempDir(t), 'not-a-directory');
  writeFileSync(file, 'x');
  const { store, error } = openChartStore({ dataDir: file, storeMaxCharts: 10, storeMaxMb: 1 });
  assert.ok(error);
  const refused = await rejectsWith(store.get(newChartId()), 'STORE_UNAVAILABLE');
  assert.equal(refused.statusCode, 503);
  await rejectsWith(store.put(newChartId(), body('{}'), Date.now() + 1_000), 'STORE_UNAVAILABLE');
  await store.close();

  // A file written by a later chartd is refused rather than misread.
  const later = tempDir(t);
  const db = new Database(join(later, SQLITE_FILE));
  db.pragma('user_version = 99');
  db.close();
  assert.ok(openChartStore({ dataDir: later, storeMaxCharts: 10, storeMaxMb: 1 }).error);
});
