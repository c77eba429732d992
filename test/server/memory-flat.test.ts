import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHART_TYPES, sampleConfig } from '../helpers/charts.js';
import { sampleMemory, slope } from '../helpers/memory.js';
import { treeRssBytes } from '../helpers/processes.js';
import { startTestService } from '../helpers/server.js';

const REQUESTS = 5_000;
const CONCURRENCY = 4;
const SAMPLE_EVERY = 250;
const FORMATS = ['png', 'webp', 'jpeg', 'svg', 'base64'];

test(`RSS of the whole process tree stays flat over ${REQUESTS} HTTP renders through the worker pool`, { timeout: 600_000 }, async (t) => {
  // Recycling is off the table here: what is measured is the steady state of live workers.
  const service = await startTestService({ workers: 2, queue: 64, maxRendersPerWorker: 1_000_000 });
  t.after(() => service.close());
  const samples: Array<[number, number]> = [];
  const statuses = new Map<number, number>();
  let next = 0;
  let done = 0;
  let sampling = Promise.resolve();

  const client = async () => {
    while (next < REQUESTS) {
      const i = next++;
      const type = CHART_TYPES[i % CHART_TYPES.length]!;
      const invalid = i % 20 === 19;
      const response = await fetch(`${service.url}/chart`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          chart: invalid ? { type: 'nope', data: { datasets: [] } } : sampleConfig(type, 20 + (i % 80)),
          format: FORMATS[i % FORMATS.length],
          width: 300 + (i % 3) * 100,
          height: 200 + (i % 2) * 100,
          devicePixelRatio: 1 + (i % 2),
          version: String(2 + (i % 3)),
        }),
      });
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (++done % SAMPLE_EVERY === 0) {
        const at = done;
        sampling = sampling.then(async () => {
          // The main process after a full GC, plus every worker process as the kernel counts it;
          // the median of a few reads, since one read lands on whatever render is in flight.
          await sampleMemory(at);
          const reads: number[] = [];
          for (let r = 0; r < 7; r++) {
            reads.push(treeRssBytes(process.pid));
            await new Promise((resolve) => setTimeout(resolve, 15));
          }
          samples.push([at, reads.sort((a, b) => a - b)[3]!]);
        });
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  await sampling;

  assert.equal(statuses.get(200), REQUESTS - REQUESTS / 20, JSON.stringify([...statuses]));
  assert.equal(statuses.get(400), REQUESTS / 20);
  const secondHalf = samples.filter(([at]) => at >= REQUESTS / 2);
  const mbPerThousand = (slope(secondHalf) * 1000) / 1024 / 1024;
  const report = samples.map(([at, rss]) => `${at}: ${(rss / 1024 / 1024).toFixed(0)} MB`).join(', ');
  t.diagnostic(`RSS slope over the second half: ${mbPerThousand.toFixed(2)} MB per 1,000 requests; ${report}`);
  // A leaked 500x300 canvas is ~0.6 MB and a forgotten destroy() ~0.2 MB: a leak on
  // every render would be 200-600 MB per 1,000. Quiet runs measure 2-6 MB per 1,000
  // (worker heaps growing toward their first major GCs, malloc arenas settling).
  assert.ok(mbPerThousand < 20, `RSS grows ${mbPerThousand.toFixed(2)} MB per 1,000 requests: ${report}`);
  const restarts = service.pool.stats().restarts;
  assert.equal(restarts.crash + restarts.deadline, 0);
});
