import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ERROR_CATALOG } from '../../src/errors.js';
import { createRenderJob, renderJob } from '../../src/index.js';
import type { RunningService } from '../../src/service.js';
import { decodeImage } from '../helpers/images.js';
import { fetchReply, postJson, type Reply } from '../helpers/replies.js';
import { chartUrl, startTestService } from '../helpers/server.js';

/**
 * Issue 9: every name a request chooses must be looked up as data, never as a
 * property of a plain object. `f=constructor` once carried Object into the job
 * (500, a worker stuck "busy" for 10 s, and the process exiting when the request
 * had queued); `f=__proto__` answered 200 with an empty body, cached for 7 days.
 * Here every Object.prototype name, in three cases, goes into every enumerated
 * parameter and every name in the config that chartd or Chart.js looks up.
 */

const NAMES = Object.getOwnPropertyNames(Object.prototype).flatMap((name) => [name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1)]);
const BAR = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };

/** Where a name goes: a query parameter, or a place in the config. */
const PLACES: Array<{ where: string; request: (name: string) => Record<string, unknown> }> = [
  { where: 'f', request: (name) => ({ c: JSON.stringify(BAR), f: name }) },
  { where: 'format', request: (name) => ({ chart: BAR, format: name }) },
  { where: 'v', request: (name) => ({ c: JSON.stringify(BAR), v: name }) },
  { where: 'encoding', request: (name) => ({ c: JSON.stringify(BAR), encoding: name }) },
  { where: 'bkg', request: (name) => ({ c: JSON.stringify(BAR), bkg: name }) },
  { where: 'devicePixelRatio', request: (name) => ({ c: JSON.stringify(BAR), devicePixelRatio: name }) },
  { where: 'w', request: (name) => ({ c: JSON.stringify(BAR), w: name }) },
  { where: 'chart.type', request: (name) => ({ chart: { ...BAR, type: name } }) },
  { where: 'dataset type', request: (name) => ({ chart: { ...BAR, data: { datasets: [{ type: name, data: [1] }] } } }) },
  { where: 'scale type (v2)', request: (name) => ({ chart: { ...BAR, options: { scales: { xAxes: [{ type: name }] } } } }) },
  { where: 'scale type (v4)', request: (name) => ({ chart: { ...BAR, options: { scales: { x: { type: name } } } }, version: '4' }) },
  { where: 'plugin name (v4)', request: (name) => ({ chart: { ...BAR, options: { plugins: { [name]: { display: true } } } }, version: '4' }) },
  { where: 'legend position', request: (name) => ({ chart: { ...BAR, options: { legend: { position: name } } } }) },
  { where: 'colour', request: (name) => ({ chart: { ...BAR, data: { datasets: [{ data: [1], backgroundColor: name }] } } }) },
  { where: 'parameter name', request: (name) => ({ c: JSON.stringify(BAR), [name]: 'x' }) },
  // Signed URLs (the service below has a signing account "acme"): accounts are looked up in a Map.
  { where: 'accountId', request: (name) => ({ c: JSON.stringify(BAR), accountId: name, sig: '0'.repeat(64) }) },
  { where: 'accountId (signature)', request: (name) => ({ c: JSON.stringify(BAR), accountId: name, exp: '9999999999', signature: 'A'.repeat(43) }) },
  { where: 'sig', request: (name) => ({ c: JSON.stringify(BAR), accountId: 'acme', sig: name }) },
  { where: 'signature', request: (name) => ({ c: JSON.stringify(BAR), accountId: 'acme', exp: '9999999999', signature: name }) },
  { where: 'exp', request: (name) => ({ c: JSON.stringify(BAR), accountId: 'acme', exp: name, signature: 'A'.repeat(43) }) },
];

const documented = new Set(Object.keys(ERROR_CATALOG));

/** Either a real image, or a documented 4xx: never a 5xx, never an empty 200. */
async function assertSafe(reply: Reply, label: string): Promise<void> {
  assert.ok(reply.status < 500, `${label}: ${reply.status} ${reply.body.subarray(0, 200).toString()}`);
  if (reply.status === 200) {
    assert.ok(reply.body.length > 100, `${label}: a 200 with ${reply.body.length} bytes`);
    const type = reply.headers.get('content-type') ?? '';
    if (type.startsWith('image/png') || type.startsWith('image/webp') || type.startsWith('image/jpeg')) {
      const image = await decodeImage(reply.body);
      assert.ok(image.width > 0, label);
    }
    return;
  }
  assert.ok(reply.code && documented.has(reply.code), `${label}: status ${reply.status} with code ${reply.code}`);
}

describe('issue 9: Object.prototype names in every parameter and lookup', () => {
  let service: RunningService;
  before(async () => {
    // One worker and a queue: most requests wait their turn, as the ones that crashed the process did.
    const keysDir = mkdtempSync(join(tmpdir(), 'chartd-proto-keys-'));
    const signingKeys = join(keysDir, 'keys.json');
    writeFileSync(signingKeys, JSON.stringify({ accounts: [{ id: 'acme', keys: ['prototype-names-test-key'] }] }));
    service = await startTestService({ workers: 1, queue: 200, signingKeys });
    const close = service.close;
    service.close = () => close().finally(() => rmSync(keysDir, { recursive: true, force: true }));
  });
  after(() => service.close());

  for (const place of PLACES) {
    test(`${place.where}: ${NAMES.length} names, GET and POST, sent at once`, async () => {
      const replies = await Promise.all(
        NAMES.flatMap((name) => {
          const request = place.request(name);
          const query = Object.fromEntries(Object.entries(request).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
          if (query.chart !== undefined) {
            query.c = query.chart;
            delete query.chart;
          }
          return [
            fetchReply(chartUrl(service.url, query)).then((reply) => ({ reply, label: `GET ${place.where}=${name}` })),
            postJson(`${service.url}/chart`, request).then((reply) => ({ reply, label: `POST ${place.where}=${name}` })),
          ];
        }),
      );
      for (const { reply, label } of replies) await assertSafe(reply, label);
      const { inFlight, queueDepth, restarts } = service.pool.stats();
      assert.deepEqual([inFlight, queueDepth], [0, 0], 'nothing left running or queued');
      assert.equal(restarts.crash + restarts.deadline, 0, 'no worker was lost to a name');
    });
  }

  test('the service is alive and renders after all of them', async () => {
    assert.equal((await fetchReply(`${service.url}/healthz`)).status, 200);
    const reply = await fetchReply(chartUrl(service.url, { c: JSON.stringify(BAR), f: 'png' }));
    assert.equal(reply.status, 200);
    assert.equal((await decodeImage(reply.body)).format, 'png');
  });
});

test('issue 9: a config full of prototype names cannot pollute Object.prototype in the process that renders it', async () => {
  const hostile = JSON.parse(
    '{"type":"bar","data":{"labels":["a"],"datasets":[{"data":[1],"__proto__":{"polluted":1}}]},' +
      '"options":{"__proto__":{"polluted":2},"scales":{"__proto__":{"polluted":3},"yAxes":[{"ticks":{"__proto__":{"polluted":4}}}]},' +
      '"plugins":{"constructor":{"prototype":{"polluted":5}}}}}',
  ) as Record<string, unknown>;
  for (const version of ['2', '3', '4']) {
    await renderJob(createRenderJob({ chart: structuredClone(hostile), version })).catch(() => undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, `Chart.js ${version}`);
    assert.deepEqual(Object.keys(Object.prototype), [], `Chart.js ${version}`);
  }
});
