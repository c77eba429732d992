import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it, type TestContext } from 'node:test';
import { countDrawnPixels, decodeImage, differingFraction, type DecodedImage } from '../helpers/images.js';
import { CHECK_FALL, CHECK_INTER_MS, startLoad, startReplicas, type LoadRequest, type LoadResult, type Replica, type ReplicaSet } from '../helpers/replicas.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Scale out (issue 13): three stateless chartd replicas (real processes, one
 * worker each) sharing a private Redis, behind haproxy (test/helpers/replicas.ts
 * has its configuration and why). One topology for the file, in steps that
 * follow each other: (a) stops the replica that created a chart, (b) takes
 * another out by SIGTERM under load and brings it back, (c) kills the third under
 * load. Counts are printed as test diagnostics.
 */

const CONCURRENCY = 4;
/** --drain-delay of the replicas: well above haproxy's time to notice a failing /readyz. */
const DRAIN_DELAY_MS = 2_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on its own connection. */
function send(url: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method: text === undefined ? 'GET' : 'POST',
        agent: false,
        timeout: 20_000,
        headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`hang guard: no answer from ${url} in 20 s`)));
    req.once('error', reject);
    req.end(text);
  });
}

/** A chart of its own for the n-th request: never in a replica's render cache, so every one is a real render. */
function loadChart(n: number) {
  return {
    chart: { type: 'line', data: { labels: ['a', 'b', 'c'], datasets: [{ label: `#${n}`, data: [n % 97, (n * 7) % 89, 5] }] } },
    width: 200,
    height: 100,
    devicePixelRatio: 1,
  };
}

/** Mostly renders (POST /chart); every fourth a POST /chart/create, which haproxy never replays once sent. */
function loadRequest(n: number): LoadRequest {
  return n % 4 === 3
    ? { method: 'POST', path: '/chart/create', kind: 'create', body: loadChart(n) }
    : { method: 'POST', path: '/chart', kind: 'render', body: loadChart(n) };
}

function checkReply(request: LoadRequest, body: Buffer, headers: Record<string, string | string[] | undefined>): string | undefined {
  if (request.kind === 'render') {
    if (headers['content-type'] !== 'image/png' || !body.subarray(0, 8).equals(PNG_SIGNATURE)) return `not a PNG: ${headers['content-type']}`;
    return undefined;
  }
  const reply = JSON.parse(body.toString()) as { success?: boolean; url?: string };
  return reply.success === true && /\/chart\/render\/[\w-]{22}$/.test(reply.url ?? '') ? undefined : `not a stored chart's URL: ${body.toString()}`;
}

function startSteadyLoad(set: ReplicaSet) {
  return startLoad(set.balancerUrl, { concurrency: CONCURRENCY, request: loadRequest, check: checkReply });
}

function failed(result: LoadResult): boolean {
  return result.status !== 200 || result.invalid !== undefined;
}

function summary(results: readonly LoadResult[]): string {
  const count = (predicate: (result: LoadResult) => boolean) => results.filter(predicate).length;
  const byReplica = new Map<string, number>();
  for (const result of results) if (result.replica) byReplica.set(result.replica, (byReplica.get(result.replica) ?? 0) + 1);
  const failures = results.filter(failed).map((result) => `${result.kind} ${result.status} ${result.error ?? result.invalid ?? ''}`.trim());
  return (
    `${results.length} requests (${count((result) => result.kind === 'render')} renders, ${count((result) => result.kind === 'create')} creates), ` +
    `${count((result) => result.status === 200)} × 200, ${count((result) => result.status !== 200 && result.status !== 0)} other statuses, ` +
    `${count((result) => result.status === 0)} socket errors; answered by ${[...byReplica].map(([name, n]) => `${name} ${n}`).join(', ')}` +
    (failures.length ? `; failures: ${failures.slice(0, 10).join(' | ')}` : '')
  );
}

/** Waits until `predicate` holds for at least `n` results of the load. */
async function waitForResults(load: { results: readonly LoadResult[] }, what: string, n: number, predicate: (result: LoadResult) => boolean = () => true): Promise<void> {
  await waitFor(what, () => load.results.filter(predicate).length >= n, 30_000, 20);
}

async function expectChart(reply: Reply, where: string): Promise<DecodedImage> {
  assert.equal(reply.status, 200, `${where}: ${reply.body.subarray(0, 300).toString()}`);
  assert.equal(reply.headers['content-type'], 'image/png', where);
  const image = await decodeImage(reply.body);
  assert.deepEqual([image.format, image.width, image.height], ['png', 300, 150], where);
  assert.ok(countDrawnPixels(image) > 1_000, `${where}: the chart is drawn`);
  return image;
}

/** What the replicas and haproxy said, for a failure's message. */
function outputs(set: ReplicaSet): string {
  return [...set.replicas.map((replica) => `--- ${replica.name}:\n${replica.output().slice(-3_000)}`), `--- haproxy:\n${set.balancerOutput().slice(-3_000)}`].join('\n');
}

describe('chartd replicas behind haproxy (shared Redis store)', { timeout: 120_000 }, () => {
  let set: ReplicaSet;
  /** The stored chart of (a), and the replica that created it. */
  let storedPath: string;
  let creator: Replica;
  let reference: DecodedImage;

  before(async () => {
    set = await startReplicas({ count: 3, drainDelayMs: DRAIN_DELAY_MS });
  });
  after(async () => {
    await set?.stop();
  });

  it('(a) a chart created through the balancer renders through every other replica, through the balancer, and after its creator stopped', async (t) => {
    const created = await send(`${set.balancerUrl}/chart/create`, {
      chart: { type: 'bar', data: { labels: ['Q1', 'Q2', 'Q3'], datasets: [{ label: 'Users', data: [50, 60, 70], backgroundColor: '#2a7ab0' }] } },
      width: 300,
      height: 150,
      devicePixelRatio: 1,
    });
    assert.equal(created.status, 200, created.body.toString());
    const createdBy = created.headers['x-chartd-replica'];
    creator = set.replicas.find((replica) => replica.name === createdBy)!;
    assert.ok(creator, `answered by a replica (X-Chartd-Replica: ${createdBy})`);
    const url = new URL((JSON.parse(created.body.toString()) as { url: string }).url);
    assert.equal(url.origin, set.balancerUrl, 'the URL is the balancer\'s (from the Host it forwarded)');
    storedPath = url.pathname;

    // Directly on each replica that did not create it: it has only the shared store to go by.
    const others = set.replicas.filter((replica) => replica !== creator);
    reference = await expectChart(await send(`${creator.url}${storedPath}`), `${creator.name} (creator), directly`);
    for (const replica of others) {
      const image = await expectChart(await send(`${replica.url}${storedPath}`), `${replica.name}, directly`);
      assert.equal(differingFraction(image, reference), 0, `${replica.name} draws the same image as ${creator.name}`);
    }
    // Through the balancer: round robin, so six requests reach every replica.
    const answeredBy = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const reply = await send(`${set.balancerUrl}${storedPath}`);
      await expectChart(reply, `through the balancer (${i})`);
      answeredBy.add(String(reply.headers['x-chartd-replica']));
    }
    assert.deepEqual([...answeredBy].sort(), set.replicas.map((replica) => replica.name).sort(), 'round robin reached every replica');

    // The creator stops (SIGTERM: its drain); the chart outlives it.
    const exit = await creator.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `${creator.name} exits 0 on SIGTERM\n${creator.output().slice(-2_000)}`);
    await set.waitForBalancer(creator, 'DOWN');
    for (const replica of others) {
      const image = await expectChart(await send(`${replica.url}${storedPath}`), `${replica.name}, directly, after ${creator.name} stopped`);
      assert.equal(differingFraction(image, reference), 0);
    }
    for (let i = 0; i < 4; i++) {
      const reply = await send(`${set.balancerUrl}${storedPath}`);
      await expectChart(reply, `through the balancer after ${creator.name} stopped (${i})`);
      assert.notEqual(reply.headers['x-chartd-replica'], creator.name);
    }
    t.diagnostic(`created on ${creator.name} (${storedPath.slice(0, 20)}...); rendered by ${others.map((replica) => replica.name).join(' and ')} directly, by all three through haproxy, and without ${creator.name}`);
  });

  it('(b) SIGTERM of a replica under load loses no request: it leaves rotation while still serving, finishes, exits 0, and rejoins', async (t: TestContext) => {
    const victim = set.replicas.find((replica) => replica.running)!;
    const load = startSteadyLoad(set);
    let results: LoadResult[] = [];
    try {
      await waitForResults(load, 'the running replicas to serve a few requests each', 3 * 2, (result) => result.replica === victim.name);
      const signalledAt = Date.now();
      const exit = victim.stop();

      // Draining: /readyz fails at once, and requests are still served (with Connection: close).
      let readiness: Reply | undefined;
      await waitFor(`${victim.name} to fail /readyz`, async () => (readiness = await send(`${victim.url}/readyz`)).status === 503, 5_000, 10);
      assert.equal((JSON.parse(readiness!.body.toString()) as { reason: string }).reason, 'shutting_down');
      const direct = await send(`${victim.url}/chart`, loadChart(-1));
      assert.equal(direct.status, 200, `${victim.name} still serves while draining: ${direct.body.subarray(0, 200).toString()}`);
      assert.equal(direct.headers.connection, 'close', 'while draining, connections are not kept alive');

      await set.waitForBalancer(victim, 'DOWN', 5_000);
      const downAt = Date.now();
      assert.ok(
        downAt - signalledAt < DRAIN_DELAY_MS,
        `haproxy took ${victim.name} out of rotation (${downAt - signalledAt} ms) before its listener closed (--drain-delay ${DRAIN_DELAY_MS} ms)`,
      );
      const exitStatus = await exit;
      const exitedAt = Date.now();
      assert.deepEqual(exitStatus, { code: 0, signal: null }, `${victim.name} exits 0\n${victim.output().slice(-2_000)}`);

      // A rolling restart's second half: it comes back, haproxy sends it requests again.
      const restartAt = Date.now();
      await victim.start();
      await set.waitForBalancer(victim, 'UP', 10_000);
      const upAt = Date.now();
      await waitForResults(load, `${victim.name} to serve again`, 3, (result) => result.replica === victim.name && result.startedAt > upAt);
      results = await load.stop();

      const stats = await set.balancerStats();
      const backend = stats.get('BACKEND')!;
      t.diagnostic(`SIGTERM ${victim.name}: out of rotation after ${downAt - signalledAt} ms, exited after ${exitedAt - signalledAt} ms; back in rotation ${upAt - restartAt} ms after its restart`);
      t.diagnostic(summary(results));
      t.diagnostic(`haproxy: ${victim.name} connection errors ${stats.get(victim.name)?.connectionErrors}, response errors ${stats.get(victim.name)?.responseErrors}; backend retries ${backend.retries}, redispatches ${backend.redispatches}`);

      const failures = results.filter(failed);
      assert.equal(failures.length, 0, `no request lost: ${summary(results)}\n${outputs(set)}`);
      const whileGone = results.filter((result) => result.startedAt > downAt && result.endedAt < restartAt);
      assert.ok(whileGone.length > 0, 'requests ran while it was gone');
      assert.ok(
        whileGone.every((result) => result.replica !== victim.name),
        'nothing sent after haproxy took it out went to it',
      );
      // The drain alone kept every request whole: haproxy never met its closed listener, nothing needed a retry.
      assert.equal(stats.get(victim.name)?.connectionErrors, 0, 'haproxy never connected to it after it stopped accepting');
      assert.equal(backend.retries, 0, 'no request needed a retry');
    } finally {
      if (results.length === 0) await load.stop();
    }
  });

  it('(c) SIGKILL of a replica under load costs at most the requests in flight on it, and haproxy stops routing to it', async (t: TestContext) => {
    const alive = set.replicas.filter((replica) => replica.running);
    assert.ok(alive.length >= 2, 'two replicas left to kill one of');
    const victim = alive.find((replica) => replica !== creator) ?? alive[0]!;
    const load = startSteadyLoad(set);
    let results: LoadResult[] = [];
    try {
      for (const replica of alive) await waitForResults(load, `${replica.name} to serve a few requests`, 3, (result) => result.replica === replica.name);
      const killedAt = Date.now();
      const exit = await victim.kill();
      assert.equal(exit.signal, 'SIGKILL');
      await set.waitForBalancer(victim, 'DOWN', 5_000);
      const downAt = Date.now();
      await waitForResults(load, 'requests after haproxy took it out', 20, (result) => result.startedAt > downAt);
      results = await load.stop();

      const stats = await set.balancerStats();
      const backend = stats.get('BACKEND')!;
      const failures = results.filter(failed);
      const inFlight = results.filter((result) => result.startedAt <= killedAt && result.endedAt > killedAt);
      t.diagnostic(`SIGKILL ${victim.name}: out of rotation after ${downAt - killedAt} ms (checks every ${CHECK_INTER_MS} ms, fall ${CHECK_FALL})`);
      t.diagnostic(summary(results));
      t.diagnostic(
        `in flight at the kill (on any replica): ${inFlight.length}; failed: ${failures.length} (${failures.filter((result) => result.kind === 'create').length} creates, ` +
          `${failures.filter((result) => result.startedAt > killedAt).length} sent after the kill); ` +
          `haproxy: backend retries ${backend.retries}, redispatches ${backend.redispatches}, ${victim.name} connection errors ${stats.get(victim.name)?.connectionErrors}`,
      );

      // Each client has one request in flight: at most one each is lost. Renders in flight are
      // replayed by haproxy on another replica (empty-response); a create is not (it may have been
      // stored), and its client sees its connection reset. Before haproxy's check takes the replica
      // out, a request sent to it meets a refused connection and is retried elsewhere (conn-failure).
      assert.ok(failures.length <= CONCURRENCY, `at most the requests in flight failed (${failures.length} > ${CONCURRENCY}): ${summary(results)}`);
      for (const failure of failures) {
        assert.ok(failure.startedAt < downAt, `a failed request was sent before haproxy took the replica out (${failure.startedAt - killedAt} ms after the kill): ${failure.kind} ${failure.status} ${failure.error}`);
      }
      const after = results.filter((result) => result.startedAt > downAt);
      assert.ok(after.length >= 20);
      assert.equal(after.filter(failed).length, 0, 'every request sent after haproxy took it out succeeded');
      assert.ok(after.every((result) => result.replica !== victim.name), 'and none went to it');
    } finally {
      if (results.length === 0) await load.stop();
    }
    // And the chart of (a) still renders, through the balancer, from whatever is left.
    await expectChart(await send(`${set.balancerUrl}${storedPath}`), 'the stored chart after the kill');
  });
});

describe('--rate-limit across replicas behind haproxy (counted in the shared Redis)', { timeout: 120_000 }, () => {
  const LIMIT = 6;
  let set: ReplicaSet;
  before(async () => {
    set = await startReplicas({ count: 3, extraArgs: ['--rate-limit', String(LIMIT), '--rate-limit-window', '60000'] });
  });
  after(async () => {
    await set?.stop();
  });

  it(`${LIMIT} requests through the balancer, spread over the replicas, then the next is 429 on every replica`, async () => {
    const chart = { chart: { type: 'bar', data: { labels: ['a'], datasets: [{ data: [1] }] } }, width: 100, height: 60 };
    const answeredBy = new Set<string>();
    for (let i = 0; i < LIMIT; i++) {
      const reply = await send(`${set.balancerUrl}/chart`, chart);
      assert.equal(reply.status, 200, `request ${i + 1}: ${reply.body.toString().slice(0, 200)}`);
      answeredBy.add(String(reply.headers['x-chartd-replica']));
    }
    assert.ok(answeredBy.size >= 2, `the balancer spread them: ${[...answeredBy].join(', ')}`);
    const limited = await send(`${set.balancerUrl}/chart`, chart);
    assert.equal(limited.status, 429, limited.body.toString().slice(0, 200));
    assert.equal((JSON.parse(limited.body.toString()) as { code?: string }).code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${String(limited.headers['retry-after'])}`);
    // One count for the client on every replica (without --trust-proxy the client is haproxy's address, 127.0.0.1, as this test's).
    for (const replica of set.replicas) assert.equal((await send(`${replica.url}/chart`, chart)).status, 429, `${replica.name}, directly`);
  });
});
