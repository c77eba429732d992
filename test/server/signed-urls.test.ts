import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { resolveServiceOptions } from '../../src/options.js';
import { canonicalQuery, signatureBaseString, signChartUrl } from '../../src/signing.js';
import { countDrawnPixels, decodeImage } from '../helpers/images.js';
import { decodeQr } from '../helpers/qr.js';
import { assertErrorReply, fetchReply, type Reply } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';

/**
 * Signed URLs (docs/API.md, "Signed URLs") against real servers: QuickChart's
 * `sig` as its client libraries compute it, chartd's own `signature` over the
 * whole request with an expiry, key rotation, --require-signature on every
 * render route, and `chartd sign`.
 */

const NEW_KEY = 'acme-new-key-0123456789abcdef';
const OLD_KEY = 'acme-old-key-0123456789abcdef';
const QC_ACCOUNT = '12345';
const QC_KEY = 'qc-api-key-abcdefghijklmnop';
// Spaces and quotes: the URL clients write them as '+' and %27, which is what has to verify.
const BAR_LITERAL = "{type:'bar',data:{labels:['a b','c'],datasets:[{label:'n m',data:[3,1]}]}}";
const BAR = { type: 'bar', data: { labels: ['a b', 'c'], datasets: [{ label: 'n', data: [3, 1] }] } };

const dir = mkdtempSync(join(tmpdir(), 'chartd-signing-'));
const KEYS_FILE = join(dir, 'keys.json');
writeFileSync(KEYS_FILE, JSON.stringify({ accounts: [{ id: 'acme', keys: [NEW_KEY, OLD_KEY] }, { id: QC_ACCOUNT, keys: [QC_KEY] }] }));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/**
 * quickchart-js 3.1.3, src/index.ts, getSignedUrl() (node_modules/quickchart-js):
 * the URL from getUrlObject() (c, w, h, ref, bkg, f, v appended with
 * URLSearchParams), then sig = createHmac('sha256', apiKey).update(c).digest('hex')
 * of `searchParams.get('c')`, then accountId appended and key deleted.
 */
function quickchartJsSignedUrl(base: string, chart: string, apiKey: string, accountId: string, size = { w: 300, h: 200 }): string {
  const url = new URL(`${base}/chart`);
  url.searchParams.append('c', chart);
  url.searchParams.append('w', String(size.w));
  url.searchParams.append('h', String(size.h));
  url.searchParams.append('ref', 'qc-js');
  url.searchParams.append('bkg', '#ffffff');
  url.searchParams.append('f', 'png');
  url.searchParams.append('v', '2.9.4');
  url.searchParams.append('key', apiKey);
  const chartStr = url.searchParams.get('c')!;
  const signature = createHmac('sha256', apiKey).update(chartStr).digest('hex');
  url.searchParams.append('sig', signature);
  url.searchParams.append('accountId', accountId);
  url.searchParams.delete('key');
  return url.href;
}

/** Python's urllib.parse.quote_plus: letters, digits and _.-~ stay, a space is '+', every other byte %XX. */
function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * quickchart-python (quickchart/__init__.py): get_url() builds
 * `urlencode({'c': dump_json(config), 'w', 'h', 'bkg', 'devicePixelRatio', 'f', 'v'})`,
 * dump_json being json.dumps(separators=(',', ':')); QuickChart's signing docs
 * (quickchart.io/documentation/authentication, "Signing requests") add
 * sig = hmac.new(key.encode(), c.encode(), hashlib.sha256).hexdigest() of that
 * same config string, and accountId.
 */
function pythonSignedUrl(base: string, config: unknown, apiKey: string, accountId: string): string {
  const c = JSON.stringify(config); // json.dumps with (',', ':') separators: the same text for this config
  const params: Array<[string, string]> = [
    ['c', c],
    ['w', '300'],
    ['h', '200'],
    ['bkg', '#ffffff'],
    ['devicePixelRatio', '1.0'],
    ['f', 'png'],
    ['v', '2.9.4'],
    ['sig', createHmac('sha256', Buffer.from(apiKey, 'utf8')).update(Buffer.from(c, 'utf8')).digest('hex')],
    ['accountId', accountId],
  ];
  return `${base}/chart?${params.map(([name, value]) => `${quotePlus(name)}=${quotePlus(value)}`).join('&')}`;
}

/** QuickChart's docs, "Signing requests": a QR code URL, text=encodeURIComponent(text)&sig=sign(key, text)&accountId. */
function quickChartQrUrl(base: string, text: string, apiKey: string, accountId: string): string {
  const sig = createHmac('sha256', apiKey).update(text).digest('hex');
  return `${base}/qr?text=${encodeURIComponent(text)}&sig=${sig}&accountId=${accountId}&size=200`;
}

async function assertPng(reply: Reply, width: number, height: number, label = ''): Promise<void> {
  assert.equal(reply.status, 200, `${label}: ${reply.status} ${reply.body.subarray(0, 300).toString()}`);
  const image = await decodeImage(reply.body);
  assert.equal(image.format, 'png', label);
  assert.deepEqual([image.width, image.height], [width, height], label);
  assert.ok(countDrawnPixels(image) > 100, `${label}: the chart draws something`);
}

/** A signed URL with one of its parameters changed after signing. */
function tamper(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.href;
}

const chartParams = (extra: Record<string, string> = {}) => ({ c: JSON.stringify(BAR), w: '300', h: '200', devicePixelRatio: '1', ...extra });

test('signed URLs with --signing-keys (signatures optional)', async (t) => {
  const service = await startTestService({ workers: 1, signingKeys: KEYS_FILE, renderCacheMb: 16 });
  t.after(() => service.close());
  const base = service.url;

  await t.test("QuickChart's sig as quickchart-js computes it is accepted; a tampered chart is not", async () => {
    const url = quickchartJsSignedUrl(base, BAR_LITERAL, QC_KEY, QC_ACCOUNT);
    assert.match(url, /labels%3A%5B%27a\+b%27/, 'the client writes spaces as +');
    await assertPng(await fetchReply(url), 600, 400, 'quickchart-js URL'); // devicePixelRatio 2 by default
    const tampered = tamper(url, 'c', BAR_LITERAL.replace('3,1', '9,1'));
    assertErrorReply(await fetchReply(tampered, { headers: { accept: 'application/json' } }), 403, 'SIGNATURE_INVALID', 'tampered c');
    const wrongKey = quickchartJsSignedUrl(base, BAR_LITERAL, 'not-the-key-0123456789', QC_ACCOUNT);
    assertErrorReply(await fetchReply(wrongKey), 403, 'SIGNATURE_INVALID', 'another key');
    // QuickChart's sig covers the chart only: the size is the client's to change.
    await assertPng(await fetchReply(tamper(url, 'w', '200')), 400, 400, 'w changed under sig');
  });

  await t.test("QuickChart's sig as quickchart-python and the docs compute it is accepted", async () => {
    await assertPng(await fetchReply(pythonSignedUrl(base, BAR, QC_KEY, QC_ACCOUNT)), 300, 200, 'python URL');
    const qr = await fetchReply(quickChartQrUrl(base, 'Hello world', QC_KEY, QC_ACCOUNT));
    assert.equal(qr.status, 200, qr.body.toString().slice(0, 200));
    assert.equal((await decodeQr(qr.body))?.data, 'Hello world');
    assertErrorReply(await fetchReply(tamper(quickChartQrUrl(base, 'Hello world', QC_KEY, QC_ACCOUNT), 'text', 'Hello there')), 403, 'SIGNATURE_INVALID', 'qr text');
  });

  await t.test("chartd's signature: accepted, and w, h, f, c or the path changed are refused", async () => {
    const url = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params: chartParams() });
    await assertPng(await fetchReply(url), 300, 200, 'signed');
    for (const [name, value] of [['w', '301'], ['h', '100'], ['f', 'svg'], ['c', JSON.stringify({ ...BAR, type: 'line' })], ['exp', '99999999999'], ['accountId', QC_ACCOUNT]] as const) {
      assertErrorReply(await fetchReply(tamper(url, name, value)), 403, 'SIGNATURE_INVALID', `${name} changed`);
    }
    assertErrorReply(await fetchReply(`${url}&bkg=red`), 403, 'SIGNATURE_INVALID', 'a parameter added');
    assertErrorReply(await fetchReply(url.replace('/chart?', '/gchart?')), 403, 'SIGNATURE_INVALID', 'another route');
  });

  await t.test('an expired signature is refused, even when the image is cached', async () => {
    const fresh = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params: chartParams({ w: '310' }) });
    const first = await fetchReply(fresh);
    assert.equal(first.status, 200);
    const past = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params: chartParams({ w: '310' }), expiresAt: Math.floor(Date.now() / 1000) - 5 });
    assertErrorReply(await fetchReply(past), 403, 'SIGNATURE_EXPIRED', 'expired');
  });

  await t.test('two signatures of one chart share one render cache entry and one ETag', async () => {
    const params = chartParams({ w: '320' });
    const a = await fetchReply(signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params, expiresInSeconds: 600 }));
    const b = await fetchReply(signChartUrl(`${base}/chart`, { accountId: 'acme', key: OLD_KEY, params, expiresInSeconds: 900 }));
    const unsigned = await fetchReply(`${base}/chart?${canonicalQuery(Object.entries(params))}`);
    assert.equal(a.headers.get('x-cache'), 'MISS');
    assert.equal(b.headers.get('x-cache'), 'HIT', 'another signature, the same image');
    assert.equal(unsigned.headers.get('x-cache'), 'HIT', 'the unsigned request too');
    assert.equal(a.headers.get('etag'), b.headers.get('etag'));
  });

  await t.test('a rotated key still verifies; a removed one does not', async () => {
    await assertPng(await fetchReply(signChartUrl(`${base}/chart`, { accountId: 'acme', key: OLD_KEY, params: chartParams() })), 300, 200, 'old key');
    const gone = signChartUrl(`${base}/chart`, { accountId: 'acme', key: 'acme-retired-key-0123456789', params: chartParams() });
    assertErrorReply(await fetchReply(gone), 403, 'SIGNATURE_INVALID', 'removed key');
  });

  await t.test('a signed POST covers the body', async () => {
    const body = JSON.stringify({ chart: BAR, width: 240, height: 120, devicePixelRatio: 1 });
    const url = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, body });
    const headers = { 'content-type': 'application/json' };
    await assertPng(await fetchReply(url, { method: 'POST', headers, body }), 240, 120, 'signed POST');
    const changed = body.replace('240', '480');
    assertErrorReply(await fetchReply(url, { method: 'POST', headers, body: changed }), 403, 'SIGNATURE_INVALID', 'body changed');
  });

  await t.test('unknown accounts, prototype names and malformed signatures get their codes', async () => {
    for (const accountId of ['nobody', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const signed = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params: chartParams() });
      assertErrorReply(await fetchReply(tamper(signed, 'accountId', accountId)), 403, 'ACCOUNT_UNKNOWN', `signature, accountId=${accountId}`);
      const qc = tamper(quickchartJsSignedUrl(base, BAR_LITERAL, QC_KEY, QC_ACCOUNT), 'accountId', accountId);
      assertErrorReply(await fetchReply(qc), 403, 'ACCOUNT_UNKNOWN', `sig, accountId=${accountId}`);
    }
    const signed = signChartUrl(`${base}/chart`, { accountId: 'acme', key: NEW_KEY, params: chartParams() });
    assertErrorReply(await fetchReply(tamper(signed, 'signature', 'x'.repeat(60_000))), 400, 'PARAM_INVALID', '60 kB signature');
    assertErrorReply(await fetchReply(tamper(signed, 'signature', 'not base64url!')), 400, 'PARAM_INVALID', 'bad signature');
    assertErrorReply(await fetchReply(tamper(signed, 'exp', 'soon')), 400, 'PARAM_INVALID', 'bad exp');
    assertErrorReply(await fetchReply(tamper(signed, 'accountId', 'a'.repeat(200))), 400, 'PARAM_INVALID', 'long accountId');
    const sigUrl = quickchartJsSignedUrl(base, BAR_LITERAL, QC_KEY, QC_ACCOUNT);
    assertErrorReply(await fetchReply(tamper(sigUrl, 'sig', 'zz')), 400, 'PARAM_INVALID', 'bad sig');
    // Past the URL limit the request is refused before it is parsed: coded, and no HMAC is computed.
    const huge = await fetchReply(tamper(signed, 'signature', 'x'.repeat(10 * 1024 * 1024)));
    assert.ok(huge.status === 431 || huge.status === 400, `10 MB signature: ${huge.status}`);
    assert.equal(huge.code, 'HEADERS_TOO_LARGE');
  });

  await t.test('unsigned requests are served as before', async () => {
    await assertPng(await fetchReply(`${base}/chart?${canonicalQuery(Object.entries(chartParams()))}`), 300, 200, 'unsigned');
  });

  await t.test('chartd sign prints a URL the server accepts', async () => {
    const configFile = join(dir, 'bar.json');
    writeFileSync(configFile, JSON.stringify(BAR));
    const run = await chartdCli(['sign', `${base}/chart`, '--account', 'acme', '--signing-keys', KEYS_FILE, '-c', configFile, '-p', 'w=280', '-p', 'h=140', '-p', 'devicePixelRatio=1']);
    assert.equal(run.code, 0, run.stderr);
    const url = run.stdout.trim();
    assert.match(url, /[?&]signature=[A-Za-z0-9_-]{43}$/);
    await assertPng(await fetchReply(url), 280, 140, 'chartd sign');
    assertErrorReply(await fetchReply(tamper(url, 'w', '560')), 403, 'SIGNATURE_INVALID', 'chartd sign, w changed');
    const qc = await chartdCli(['sign', `${base}/chart`, '--quickchart', '--account', QC_ACCOUNT, '--key', QC_KEY, '-p', `c=${BAR_LITERAL}`, '-p', 'w=200', '-p', 'h=100', '-p', 'devicePixelRatio=1']);
    assert.equal(qc.code, 0, qc.stderr);
    await assertPng(await fetchReply(qc.stdout.trim()), 200, 100, 'chartd sign --quickchart');
    const help = await chartdCli(['sign', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--signing-keys/);
    assert.match((await chartdCli(['--help'])).stdout, /chartd sign/);
    assert.equal((await chartdCli(['sign', `${base}/chart`])).code, 2, 'no account');
  });
});

test('--require-signature refuses unsigned requests on every render route, never on health or metrics', async (t) => {
  const service = await startTestService({ workers: 1, signingKeys: KEYS_FILE, requireSignature: true });
  t.after(() => service.close());
  const base = service.url;
  const json = { headers: { accept: 'application/json' } };
  const postJson = (url: string, body: unknown) => fetchReply(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  await t.test('unsigned: 403 SIGNATURE_REQUIRED', async () => {
    const gets = [
      `${base}/chart?c=${encodeURIComponent(JSON.stringify(BAR))}`,
      `${base}/chart?cht=p&chd=t:1,2&chs=200x100`,
      `${base}/gchart?cht=p&chd=t:1,2&chs=200x100`,
      `${base}/qr?text=hi`,
      `${base}/chart/render/AAAAAAAAAAAAAAAAAAAAAA`,
    ];
    for (const url of gets) assertErrorReply(await fetchReply(url, json), 403, 'SIGNATURE_REQUIRED', url);
    assertErrorReply(await postJson(`${base}/chart`, { chart: BAR }), 403, 'SIGNATURE_REQUIRED', 'POST /chart');
    assertErrorReply(await postJson(`${base}/chart/create`, { chart: BAR }), 403, 'SIGNATURE_REQUIRED', 'POST /chart/create');
    // A signature in a POST body is not read: the signature goes in the query.
    assertErrorReply(await postJson(`${base}/chart`, { chart: BAR, accountId: 'acme', sig: '0'.repeat(64) }), 403, 'SIGNATURE_REQUIRED', 'sig in a body');
  });

  await t.test('health and metrics are never gated', async () => {
    assert.equal((await fetchReply(`${base}/healthz`)).status, 200);
    assert.notEqual((await fetchReply(`${base}/readyz`)).code, 'SIGNATURE_REQUIRED');
    const metrics = await fetchReply(`${service.adminUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body.toString(), /^chartd_/m);
  });

  await t.test('signed: every route serves', async () => {
    const sign = (path: string, params: Record<string, string>) => signChartUrl(`${base}${path}`, { accountId: 'acme', key: NEW_KEY, params });
    await assertPng(await fetchReply(sign('/chart', chartParams())), 300, 200, '/chart');
    assert.equal((await fetchReply(sign('/gchart', { cht: 'p', chd: 't:1,2', chs: '200x100' }))).status, 200, '/gchart');
    const qr = await fetchReply(sign('/qr', { text: 'signed text', size: '200' }));
    assert.equal((await decodeQr(qr.body))?.data, 'signed text');
    assert.equal((await fetchReply(quickChartQrUrl(base, 'qc text', QC_KEY, QC_ACCOUNT))).status, 200, "QuickChart's sig counts too");

    // /chart/create is an authoring endpoint: signed as a POST, its answer's URL is signed by the author to be shared.
    const body = JSON.stringify({ chart: BAR, width: 260, height: 130, devicePixelRatio: 1 });
    const created = await fetchReply(signChartUrl(`${base}/chart/create`, { accountId: 'acme', key: NEW_KEY, body }), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(created.status, 200, created.body.toString());
    const { url } = JSON.parse(created.body.toString()) as { url: string };
    assertErrorReply(await fetchReply(url, json), 403, 'SIGNATURE_REQUIRED', 'stored chart, unsigned');
    await assertPng(await fetchReply(signChartUrl(url, { accountId: 'acme', key: OLD_KEY })), 260, 130, 'stored chart, signed');
    const other = url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assertErrorReply(await fetchReply(signChartUrl(url, { accountId: 'acme', key: NEW_KEY }).replace(url, other)), 403, 'SIGNATURE_INVALID', 'another id');
  });
});

test('the keys file and --require-signature are checked at startup', () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"accounts": [{"id": "acme", "keys": ["short"]}]}');
  assert.throws(() => resolveServiceOptions({ 'signing-keys': bad }, {}), /--signing-keys .*bad\.json: accounts\[0\]\.keys\[0\] must be a string of 16/);
  assert.throws(() => resolveServiceOptions({}, { CHARTD_SIGNING_KEYS_FILE: join(dir, 'missing.json') }), /CHARTD_SIGNING_KEYS_FILE|cannot be read/);
  writeFileSync(bad, 'not json');
  assert.throws(() => resolveServiceOptions({ 'signing-keys': bad }, {}), /not JSON/);
  writeFileSync(bad, JSON.stringify({ accounts: [{ id: 'a', keys: [NEW_KEY] }, { id: 'a', keys: [OLD_KEY] }] }));
  assert.throws(() => resolveServiceOptions({ 'signing-keys': bad }, {}), /appears twice/);
  assert.throws(() => resolveServiceOptions({ 'require-signature': true }, {}), /--require-signature needs --signing-keys/);
  assert.throws(() => resolveServiceOptions({}, { CHARTD_REQUIRE_SIGNATURE: 'maybe' }), /CHARTD_REQUIRE_SIGNATURE must be true or false/);
  const options = resolveServiceOptions({ 'require-signature': true }, { CHARTD_SIGNING_KEYS_FILE: KEYS_FILE });
  assert.deepEqual([options.requireSignature, options.signingKeys], [true, KEYS_FILE]);
});

test('the canonical form, as docs/API.md writes it out', () => {
  // The worked example of docs/API.md: another language's implementation can check itself against it.
  const params: Array<[string, string]> = [
    ['w', '300'],
    ['c', "{type:'bar'}"],
    ['accountId', 'acme'],
    ['exp', '1700000000'],
    ['text', 'a b+c/é~'],
  ];
  assert.equal(canonicalQuery(params), "accountId=acme&c=%7Btype%3A%27bar%27%7D&exp=1700000000&text=a%20b%2Bc%2F%C3%A9~&w=300");
  const base = signatureBaseString('/chart', params);
  assert.equal(base, "chartd-v1\n/chart\naccountId=acme&c=%7Btype%3A%27bar%27%7D&exp=1700000000&text=a%20b%2Bc%2F%C3%A9~&w=300\n");
  assert.equal(createHmac('sha256', 'acme-new-key-0123456789abcdef').update(base).digest('base64url'), signatureOf(base));
  const url = signChartUrl('http://charts.example.com/chart', { accountId: 'acme', key: NEW_KEY, params: [['c', "{type:'bar'}"], ['w', '300']], expiresAt: 1700000000 });
  assert.equal(url, `http://charts.example.com/chart?accountId=acme&c=%7Btype%3A%27bar%27%7D&exp=1700000000&w=300&signature=${signatureOf(signatureBaseString('/chart', [['c', "{type:'bar'}"], ['w', '300'], ['accountId', 'acme'], ['exp', '1700000000']]))}`);
});

function signatureOf(base: string): string {
  return createHmac('sha256', NEW_KEY).update(base).digest('base64url');
}

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));

function chartdCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000, env: { ...process.env, CHARTD_SIGNING_KEYS_FILE: '', CHARTD_SIGNING_KEY: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
