import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveServiceOptions } from '../../src/options.js';
import { loadApiKeys, stripBodyKey, withoutApiKey } from '../../src/server/api-keys.js';
import { assertErrorReply, fetchReply, postJson } from '../helpers/replies.js';
import { CHARTD_BIN, chartUrl, serveChild, startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * API keys (--api-keys): a key raises its client's limits and counts it by name; an
 * unknown key is 401 API_KEY_INVALID; the key never reaches the logs, the render
 * cache key, the ETag or the chart store.
 */

const dir = mkdtempSync(join(tmpdir(), 'chartd-api-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const REPORTS_KEY = 'rk_4f1c2b7e9a0d44b1a3c5e6f7a8b9c0d1';
const BATCH_KEY = 'bk_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d';
const ROTATED_KEY = 'rk2_11112222333344445555666677778888';

function writeKeys(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

const keysFile = writeKeys('keys.json', {
  keys: [
    { name: 'reports-team', key: REPORTS_KEY, rateLimit: 5, budgetPercent: 80 },
    { name: 'reports-team', key: ROTATED_KEY, rateLimit: 5, budgetPercent: 80 },
    { name: 'batch', key: BATCH_KEY, rateLimit: 0 },
  ],
});

const config = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };

test('the keys file is checked at start: shape, fields, duplicates, each error names the file', () => {
  const keys = loadApiKeys(keysFile);
  assert.equal(keys.size, 3);
  assert.equal(keys.find(REPORTS_KEY)?.name, 'reports-team');
  assert.equal(keys.find(ROTATED_KEY)?.rateLimit, 5);
  assert.equal(keys.find(`${REPORTS_KEY}x`), undefined);
  assert.equal(keys.find('constructor'), undefined);
  assert.equal(keys.find('__proto__'), undefined);
  const bad: Array<[unknown, RegExp]> = [
    ['{not json', /is not valid JSON/],
    [[], /must be a JSON object \{"keys"/],
    [{ keys: {} }, /must be a JSON object \{"keys"/],
    [{ keys: [{ name: 'a', key: 'short' }] }, /keys\[0\] \("a"\)\.key must be a string of 16-512/],
    [{ keys: [{ name: '', key: REPORTS_KEY }] }, /keys\[0\]\.name must be/],
    [{ keys: [{ name: 'a', key: REPORTS_KEY, ratelimit: 5 }] }, /unknown field "ratelimit"/],
    [{ keys: [{ name: 'a', key: REPORTS_KEY, rateLimit: -1 }] }, /rateLimit must be an integer >= 0/],
    [{ keys: [{ name: 'a', key: REPORTS_KEY, budgetPercent: 101 }] }, /budgetPercent must be an integer from 0 to 100/],
    [{ keys: [{ name: 'a', key: REPORTS_KEY }, { name: 'b', key: REPORTS_KEY }] }, /keys\[1\] \("b"\)\.key is the key of an earlier entry/],
    [{ keys: [{ name: 'a', key: REPORTS_KEY, rateLimit: 1 }, { name: 'a', key: BATCH_KEY, rateLimit: 2 }] }, /other limits than an earlier key of the same name/],
  ];
  bad.forEach(([content, message], index) => {
    const file = writeKeys(`bad-${index}.json`, content);
    assert.throws(() => loadApiKeys(file), (error: Error) => error.message.startsWith(`--api-keys ${file}: `) && message.test(error.message), String(message));
  });
  assert.throws(() => loadApiKeys(join(dir, 'missing.json')), /--api-keys .*missing\.json: cannot be read \(ENOENT\)/);
  assert.equal(resolveServiceOptions({}, { CHARTD_API_KEYS_FILE: keysFile }).apiKeysFile, keysFile);
  assert.equal(resolveServiceOptions({ 'api-keys': 'flag.json' }, { CHARTD_API_KEYS_FILE: keysFile }).apiKeysFile, 'flag.json');
});

test('a body\'s top-level key is taken out, the rest of the text kept; nested "key"s are chart data', () => {
  const body = Buffer.from(`{"chart": {"data": {"datasets": [{"parsing": {"key": "v"}}]}}, "key" : "${REPORTS_KEY}", "width": 300}`);
  const stripped = stripBodyKey('json', body);
  assert.equal(stripped.key, REPORTS_KEY);
  assert.deepEqual(JSON.parse(stripped.body.toString()), { chart: { data: { datasets: [{ parsing: { key: 'v' } }] } }, width: 300 });
  const nested = Buffer.from('{"chart": {"key": "not an api key"}}');
  assert.equal(stripBodyKey('json', nested).body, nested, 'no top-level key: the same bytes');
  assert.equal(stripBodyKey('json', nested).key, undefined);
  assert.equal(stripBodyKey('json', Buffer.from('{"key": "a", "x": [1, {"y": "}"}], "key": "a"}')).body.toString(), '{"x": [1, {"y": "}"}]}');
  assert.throws(() => stripBodyKey('json', Buffer.from('{"key": "a", "key": "b"}')), /two different API keys/);
  assert.throws(() => stripBodyKey('json', Buffer.from('{"key": 5}')), /must be a string/);
  assert.equal(stripBodyKey('json', Buffer.from('{"key": "a"')).key, undefined, 'malformed: left for the worker to refuse');
  const form = stripBodyKey('form', Buffer.from(`c=${encodeURIComponent(JSON.stringify(config))}&key=${REPORTS_KEY}&w=200`));
  assert.equal(form.key, REPORTS_KEY);
  assert.deepEqual(Object.fromEntries(new URLSearchParams(form.body.toString())), { c: JSON.stringify(config), w: '200' });
  const params = Object.assign(Object.create(null) as Record<string, string>, { c: '{}', key: 'k' });
  assert.deepEqual({ ...withoutApiKey(params) }, { c: '{}' });
});

test('keys: anonymous at --rate-limit, a key at its own limit, by header, Bearer, query or body; an unknown key is 401 API_KEY_INVALID', { timeout: 60_000 }, async (t) => {
  const service = await startTestService({ workers: 1, rateLimit: 2, rateLimitWindowMs: 60_000, apiKeysFile: keysFile, renderCacheMb: 8 });
  t.after(() => service.close());
  const url = (params: Record<string, string | number> = {}) => chartUrl(service.url, { c: JSON.stringify(config), w: 120, h: 80, ...params });

  // Anonymous: --rate-limit (2).
  for (let i = 0; i < 2; i++) assert.equal((await fetchReply(url())).status, 200);
  const limited = await fetchReply(url());
  assertErrorReply(limited, 429, 'RATE_LIMITED', 'anonymous third');
  assert.ok(Number(limited.headers.get('retry-after')) > 0);

  // The key's client: its own count (not the address's) and its own limit (5), whichever way it is sent.
  const sends: Array<() => Promise<Awaited<ReturnType<typeof fetchReply>>>> = [
    () => fetchReply(url(), { headers: { 'x-api-key': REPORTS_KEY } }),
    () => fetchReply(url(), { headers: { authorization: `Bearer ${REPORTS_KEY}` } }),
    () => fetchReply(url({ key: REPORTS_KEY })),
    () => postJson(`${service.url}/chart`, { chart: config, width: 120, height: 80, key: REPORTS_KEY }),
    // A second key of the same name is the same client.
    () => fetchReply(url({ key: ROTATED_KEY })),
  ];
  for (const [index, send] of sends.entries()) {
    const reply = await send();
    assert.equal(reply.status, 200, `keyed request ${index}: ${reply.body.toString().slice(0, 200)}`);
    assert.equal(reply.headers.get('x-ratelimit-limit'), '5');
  }
  assertErrorReply(await fetchReply(url(), { headers: { 'x-api-key': REPORTS_KEY } }), 429, 'RATE_LIMITED', 'the key\'s sixth');
  // rateLimit 0: not limited at all.
  for (let i = 0; i < 4; i++) assert.equal((await fetchReply(url({ key: BATCH_KEY }))).status, 200);

  // Unknown keys, anywhere: 401, before any render or count.
  assertErrorReply(await fetchReply(url({ key: 'nope-nope-nope-nope' })), 401, 'API_KEY_INVALID', 'unknown query key');
  assertErrorReply(await fetchReply(url(), { headers: { 'x-api-key': `${BATCH_KEY}0` } }), 401, 'API_KEY_INVALID', 'unknown header key');
  assertErrorReply(await postJson(`${service.url}/chart`, { chart: config, key: 'nope-nope-nope-nope' }), 401, 'API_KEY_INVALID', 'unknown body key');
  assertErrorReply(await fetchReply(url({ key: BATCH_KEY }), { headers: { 'x-api-key': REPORTS_KEY } }), 401, 'API_KEY_INVALID', 'two different keys');
  // The probes never look at keys.
  assert.equal((await fetchReply(`${service.url}/healthz?key=whatever`)).status, 200);
});

test('keys stay out of the render cache and the ETag: two keys, one chart, one cache entry', { timeout: 60_000 }, async (t) => {
  const service = await startTestService({ workers: 1, apiKeysFile: keysFile, renderCacheMb: 8 });
  t.after(() => service.close());
  const url = (key: string) => chartUrl(service.url, { c: JSON.stringify(config), w: 130, key });
  const first = await fetchReply(url(REPORTS_KEY));
  const second = await fetchReply(url(BATCH_KEY));
  const third = await fetchReply(chartUrl(service.url, { c: JSON.stringify(config), w: 130 }), { headers: { 'x-api-key': BATCH_KEY } });
  assert.equal(first.headers.get('x-cache'), 'MISS');
  assert.equal(second.headers.get('x-cache'), 'HIT', 'another key, the same chart: the same entry');
  assert.equal(third.headers.get('x-cache'), 'HIT', 'no key in the query at all: the same entry');
  assert.equal(second.headers.get('etag'), first.headers.get('etag'));
  assert.deepEqual(second.body, first.body);
  // Bodies: the key is taken out before the body is hashed.
  const body = (key: string) => ({ chart: config, width: 140, key });
  assert.equal((await postJson(`${service.url}/chart`, body(REPORTS_KEY))).headers.get('x-cache'), 'MISS');
  const again = await postJson(`${service.url}/chart`, body(BATCH_KEY));
  assert.equal(again.headers.get('x-cache'), 'HIT');
  // A stored chart keeps no key: it renders for anyone, keyed or not, and its id is all it takes.
  const created = await postJson(`${service.url}/chart/create`, { chart: config, key: REPORTS_KEY });
  assert.equal(created.status, 200, created.body.toString());
  const id = /\/chart\/render\/([\w-]{22})$/.exec((JSON.parse(created.body.toString()) as { url: string }).url)?.[1];
  assert.ok(id);
  const stored = await service.store.get(id);
  assert.ok(stored && !stored.body.toString().includes(REPORTS_KEY), 'the stored body has no key');
  assert.equal((await fetchReply(`${service.url}/chart/render/${id}?key=${BATCH_KEY}`)).headers.get('x-cache'), 'HIT', 'the created render, whatever the key');
});

test('chartd serve: the key never reaches the log (query, header or body); its name does; a bad file is a start-up error', { timeout: 60_000 }, async (t) => {
  const dataDir = mkdtempSync(join(dir, 'data-'));
  const { base, lines, child } = await serveChild(t, ['--workers', '1', '--data-dir', dataDir, '--rate-limit', '100'], { CHARTD_API_KEYS_FILE: keysFile });
  const c = encodeURIComponent(JSON.stringify(config));
  assert.equal((await fetchReply(`${base}/chart?c=${c}&key=${REPORTS_KEY}`)).status, 200);
  assert.equal((await fetchReply(`${base}/chart?c=${c}&%6Bey=${BATCH_KEY}&w=90`)).status, 200);
  assert.equal((await fetchReply(`${base}/chart?c=${c}&w=100`, { headers: { authorization: `Bearer ${ROTATED_KEY}` } })).status, 200);
  assert.equal((await postJson(`${base}/chart`, { chart: config, key: REPORTS_KEY })).status, 200);
  assert.equal((await fetchReply(`${base}/chart?c=${c}&key=wrong-key-wrong-key`)).status, 401);
  await waitFor('the five requests to be logged', () => lines.filter((line) => line.includes('request completed')).length >= 5);
  const requests = lines.filter((line) => line.includes('request completed'));
  assert.equal(requests.length, 5, lines.join('\n'));
  for (const key of [REPORTS_KEY, BATCH_KEY, ROTATED_KEY, 'wrong-key-wrong-key']) {
    assert.ok(!lines.some((line) => line.includes(key)), `the key ${key.slice(0, 4)}… is not in the log`);
  }
  assert.ok(requests[0]!.includes('"apiKey":"reports-team"'), requests[0]);
  assert.ok(requests[0]!.includes('key=…'), requests[0]);
  assert.ok(requests.at(-1)!.includes('"code":"API_KEY_INVALID"'), requests.at(-1));
  child.kill('SIGKILL');

  // A file that is not right: exit 2, the file and the problem named, nothing started.
  const badFile = writeKeys('dup.json', { keys: [{ name: 'a', key: REPORTS_KEY }, { name: 'b', key: REPORTS_KEY }] });
  const bad = spawn(process.execPath, [CHARTD_BIN, 'serve', '--port', '0', '--admin-port', '0', '--api-keys', badFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let badErr = '';
  bad.stderr!.setEncoding('utf8').on('data', (chunk: string) => (badErr += chunk));
  const code = await new Promise<number | null>((resolve) => bad.once('exit', resolve));
  assert.equal(code, 2, badErr);
  assert.match(badErr, new RegExp(`chartd serve: --api-keys ${badFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: keys\\[1\\] \\("b"\\)\\.key is the key of an earlier entry`));
  assert.ok(!badErr.includes(REPORTS_KEY), 'the error names the entry, not the key');
});

test('a key\'s budgetPercent is its own share of the workers: a larger one admits what the default refuses, 0 never refuses', async () => {
  const { ClientBudget, budgetMsOf } = await import('../../src/server/client-budget.js');
  const options = { workers: 2, clientBudgetWindowMs: 10_000 };
  assert.equal(budgetMsOf(25, options), 5_000);
  assert.equal(budgetMsOf(0, options), Number.POSITIVE_INFINITY);
  const budget = new ClientBudget({ budgetMs: budgetMsOf(25, options), windowMs: options.clientBudgetWindowMs });
  const now = 1_000_000;
  budget.begin('key:reports-team', now);
  budget.charge('key:reports-team', 8_000, now);
  budget.finish('key:reports-team', now);
  budget.begin('ip:10.0.0.2', now); // another client waits
  assert.equal(budget.check('key:reports-team', now)?.code, 'CLIENT_BUDGET_EXCEEDED', 'over the default 25 %');
  assert.equal(budget.check('key:reports-team', now, budgetMsOf(80, options)), undefined, 'within its 80 %');
  assert.equal(budget.check('key:reports-team', now, budgetMsOf(0, options)), undefined, '0: never refused');
});
