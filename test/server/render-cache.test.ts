import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeImage } from '../helpers/images.js';
import { sampleMemory, slope } from '../helpers/memory.js';
import { assertErrorReply, fetchReply, postJson } from '../helpers/replies.js';
import { chartUrl, startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** The render cache over HTTP: hits skip the workers, misses render, and the bytes stay within the bound. */

function barChart(seed: number): Record<string, unknown> {
  return { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ label: `series ${seed}`, data: [seed % 7, (seed * 3) % 11, seed % 5] }] } };
}

async function metricValue(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  assert.ok(line, `/metrics has ${name}`);
  return Number(line.split(' ')[1]);
}

test('a repeated request is answered from the cache: the same bytes and ETag, no render', async (t) => {
  const service = await startTestService({ renderCacheMb: 8 });
  t.after(() => service.close());
  let renders = 0;
  service.pool.on('task', () => renders++);
  const url = chartUrl(service.url, { c: JSON.stringify(barChart(1)), w: 300, h: 200 });

  const first = await fetchReply(url);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-cache'), 'MISS');
  const second = await fetchReply(url);
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-cache'), 'HIT');
  assert.deepEqual(second.body, first.body);
  assert.equal(second.headers.get('etag'), first.headers.get('etag'));
  assert.equal(second.headers.get('content-type'), 'image/png');
  assert.equal((await decodeImage(second.body)).width, 600);
  assert.equal(renders, 1, 'the hit did not go to a worker');

  // The same parameters in another order are the same request.
  const reordered = await fetchReply(`${service.url}/chart?h=200&w=300&c=${encodeURIComponent(JSON.stringify(barChart(1)))}`);
  assert.equal(reordered.headers.get('x-cache'), 'HIT');

  const revalidated = await fetchReply(url, { headers: { 'if-none-match': first.headers.get('etag')! } });
  assert.equal(revalidated.status, 304);
  assert.equal(revalidated.body.length, 0);

  const body = { chart: barChart(2), format: 'svg' };
  assert.equal((await postJson(`${service.url}/chart`, body)).headers.get('x-cache'), 'MISS');
  const postHit = await postJson(`${service.url}/chart`, body);
  assert.equal(postHit.headers.get('x-cache'), 'HIT');
  assert.match(postHit.headers.get('content-type') ?? '', /^image\/svg\+xml/);

  const qr = `${service.url}/qr?text=cache`;
  assert.equal((await fetchReply(qr)).headers.get('x-cache'), 'MISS');
  assert.equal((await fetchReply(qr)).headers.get('x-cache'), 'HIT');
  assert.equal(renders, 3);

  assert.equal(await metricValue(service.adminUrl, 'chartd_render_cache_hits_total'), 5);
  assert.equal(await metricValue(service.adminUrl, 'chartd_render_cache_misses_total'), 3);
  assert.equal(await metricValue(service.adminUrl, 'chartd_render_cache_entries'), 3);
  assert.ok((await metricValue(service.adminUrl, 'chartd_render_cache_bytes')) > first.body.length);
});

test('refusals are not cached: a bad config is refused again, and costs a worker each time', async (t) => {
  const service = await startTestService({ renderCacheMb: 8 });
  t.after(() => service.close());
  let renders = 0;
  service.pool.on('task', () => renders++);
  const url = chartUrl(service.url, { c: "{type:'bar',data:{datasets:[{data:[1,2]}]", w: 300, h: 200 });
  for (let i = 0; i < 2; i++) assertErrorReply(await fetchReply(url), 400, 'CONFIG_SYNTAX', `attempt ${i}`);
  assert.equal(renders, 2);
  assert.equal(await metricValue(service.adminUrl, 'chartd_render_cache_entries'), 0);
});

test('a cached image is served while the queue is full; an uncached one gets 503 QUEUE_FULL', async (t) => {
  const service = await startTestService({ renderCacheMb: 8, workers: 1, queue: 0 }, { faultHooks: true });
  t.after(() => service.close());
  const cachedUrl = chartUrl(service.url, { c: JSON.stringify(barChart(3)) });
  assert.equal((await fetchReply(cachedUrl)).headers.get('x-cache'), 'MISS');

  const slow = postJson(`${service.url}/chart`, { chart: { ...barChart(4), options: { plugins: { chartdTest: { busyMs: 1500 } } } } });
  await waitFor('the slow render to hold the worker', () => service.pool.stats().workers.some((worker) => worker.state === 'busy'));

  assertErrorReply(await fetchReply(chartUrl(service.url, { c: JSON.stringify(barChart(5)) })), 503, 'QUEUE_FULL');
  const hit = await fetchReply(cachedUrl);
  assert.equal(hit.status, 200);
  assert.equal(hit.headers.get('x-cache'), 'HIT');
  assert.equal((await slow).status, 200);
});

test('over many unique requests the cache stays within its bound, evicts the oldest, and memory stays flat', async (t) => {
  const maxBytes = 1024 * 1024;
  const service = await startTestService({ renderCacheMb: 1 });
  t.after(() => service.close());
  const requests = 600;
  const samples: Array<[number, number]> = [];
  let imageBytes = 0;
  for (let i = 0; i < requests; i++) {
    // A different chart each time, so no request can be a hit.
    const reply = await fetchReply(chartUrl(service.url, { c: JSON.stringify(barChart(1000 + i)), w: 400, h: 300 }));
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('x-cache'), 'MISS');
    imageBytes += reply.body.length;
    if ((i + 1) % 50 === 0) {
      assert.ok((await metricValue(service.adminUrl, 'chartd_render_cache_bytes')) <= maxBytes, `within the bound after ${i + 1} requests`);
      if (i + 1 > requests / 2) samples.push([i + 1, (await sampleMemory(i + 1)).rssBytes]);
    }
  }
  assert.ok(imageBytes > 5 * maxBytes, `the requests made ${imageBytes} bytes of images, well past the bound`);
  const evictions = await metricValue(service.adminUrl, 'chartd_render_cache_evictions_total');
  const entries = await metricValue(service.adminUrl, 'chartd_render_cache_entries');
  assert.equal(entries + evictions, requests, 'every image was kept until evicted');
  // The most recent image is still there; the first is gone.
  assert.equal((await fetchReply(chartUrl(service.url, { c: JSON.stringify(barChart(1000 + requests - 1)), w: 400, h: 300 }))).headers.get('x-cache'), 'HIT');
  assert.equal((await fetchReply(chartUrl(service.url, { c: JSON.stringify(barChart(1000)), w: 400, h: 300 }))).headers.get('x-cache'), 'MISS');

  // An unbounded cache would grow by the image bytes per request: about 20 MB per 1,000 here.
  const mbPer1000 = (slope(samples) * 1000) / 1e6;
  t.diagnostic(`RSS slope over the second half: ${mbPer1000.toFixed(2)} MB per 1,000 requests; images ${(imageBytes / requests / 1000).toFixed(1)} KB each`);
  assert.ok(mbPer1000 < (imageBytes / requests) * 1000 / 1e6 / 2, `RSS grows ${mbPer1000.toFixed(2)} MB per 1,000 requests`);
});
