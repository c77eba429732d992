import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningService } from '../../src/service.js';
import { topFunctions } from '../helpers/pprof.js';
import { PLANTED_FUNCTION, PLANTED_LEAK_URL, startTestService } from '../helpers/server.js';
import { sleep } from '../helpers/wait.js';

const RENDERS = 1_500;
const HELD_MS = 1_000;

/** A small chart whose config (and so the planted copy of it) is ~5 KB: an option no one draws carries the bulk. */
const chart = (n: number) =>
  JSON.stringify({
    chart: {
      type: 'bar',
      data: { labels: ['a', 'b', 'c'], datasets: [{ data: [n % 7, 2, 3] }] },
      options: { testPayload: Array.from({ length: 200 }, (_, i) => `entry ${n}-${i}`) },
    },
    width: 120,
    height: 80,
    devicePixelRatio: 1,
  });

/**
 * V8's sampling heap profiler names the outermost function of an optimised frame:
 * an allocation in a function TurboFan inlined is counted in whatever it was
 * inlined into. The planted leak's small function, called from renderJob through
 * a diagnostics channel, was inlined after a few thousand renders, and CI's
 * end-to-end leak test got `renderJob` as the profile's first entry (1 MB) and the
 * leak second (256 KB). Render workers run with --no-turbo-inlining
 * (WORKER_V8_FLAGS) so that the profile names the function that allocated.
 */
for (const [name, workerFlags, named] of [
  ['render workers', [], true],
  ['render workers with inlining turned back on (the control)', ['--turbo-inlining'], false],
] as const) {
  describe(`heap profile attribution: ${name}`, () => {
    let service: RunningService;
    before(async () => {
      service = await startTestService(
        { workers: 1, renderCacheMb: 0, timeoutMs: 20_000 },
        { workerImports: [PLANTED_LEAK_URL], workerFlags: [...workerFlags], warmUp: { ms: 0, renders: 10, heldMs: HELD_MS } },
      );
    });
    after(() => service.close());

    test(named ? `a leak in a small hot function is counted in that function after ${RENDERS} renders` : `the leak goes to the function it was inlined into`, { timeout: 120_000 }, async (t) => {
      for (let n = 0; n < RENDERS; n += 2) {
        const replies = await Promise.all([n, n + 1].map((i) => fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chart(i) })));
        for (const reply of replies) {
          assert.equal(reply.status, 200);
          await reply.arrayBuffer();
        }
      }
      await sleep(2 * HELD_MS);
      const response = await fetch(`${service.adminUrl}/debug/pprof/heap?worker=0&since=warmup`);
      assert.equal(response.status, 200);
      const top = topFunctions(Buffer.from(await response.arrayBuffer()));
      const total = top.reduce((sum, [, bytes]) => sum + bytes, 0);
      const planted = top.find(([fn]) => fn === PLANTED_FUNCTION)?.[1] ?? 0;
      t.diagnostic(`since warm-up: ${(total / 2 ** 20).toFixed(1)} MiB; top ${top.slice(0, 4).map(([fn, bytes]) => `${fn} ${(bytes / 2 ** 20).toFixed(2)} MiB`).join(', ')}`);
      assert.ok(total > 4 * 2 ** 20, `the leak held ${total} bytes: too little to read a share from`);
      if (named) {
        assert.equal(top[0]?.[0], PLANTED_FUNCTION, top.slice(0, 5).join('; '));
        assert.ok(planted > 0.8 * total, `${PLANTED_FUNCTION} holds ${planted} of ${total} bytes`);
      } else {
        assert.ok(planted < 0.5 * total, `${PLANTED_FUNCTION} holds ${planted} of ${total} bytes with inlining on: the control no longer shows the misattribution`);
      }
    });
  });
}
