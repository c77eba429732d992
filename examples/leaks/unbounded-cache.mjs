// Leak class 3: a cache without a bound.
//
// "Rendering is expensive, let's memoize it": a Map from the request to the
// rendered image. Dashboards ask for "the last hour, until now", so hardly two
// requests are alike and the Map only grows: every image and every key stays
// reachable, the post-GC heap climbs, and a heap profile names the function
// that allocated what is retained.
//
//   node examples/leaks/unbounded-cache.mjs
//   node examples/leaks/unbounded-cache.mjs unbounded --pprof /tmp/cache.pb.gz
//   go tool pprof -top /tmp/cache.pb.gz
//
// Fix: bound the cache by bytes (an LRU) or, for a stateless service, cache at
// the HTTP layer: chartd sends ETag and Cache-Control and keeps no image cache.
import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { runExample, startHeapProfile, turnEventLoop, writeHeapProfile } from './measure.mjs';

const require = createRequire(import.meta.url);
const { Chart } = require('chart.js/auto');

const ITERATIONS = 600;
const MAX_CACHE_BYTES = 2 * 1024 * 1024;

/** The dashboard's request: the last 60 minutes until `now`, as a base64 data URI (format=base64). */
function requestFor(now) {
  const data = Array.from({ length: 60 }, (_, i) => ({ x: now - (59 - i) * 60_000, y: 50 + 30 * Math.sin((now / 60_000 + i) / 7) }));
  return { chart: { type: 'line', data: { datasets: [{ label: 'req/min', data }] } }, width: 400, height: 300 };
}

async function renderDataUri(request) {
  const canvas = createCanvas(request.width, request.height);
  const chart = new Chart(canvas, { ...request.chart, options: { animation: false, responsive: false, scales: { x: { type: 'linear' } } } });
  try {
    return toDataUri(await canvas.encode('png'));
  } finally {
    chart.destroy();
  }
}

function toDataUri(png) {
  return `data:image/png;base64,${png.toString('base64')}`;
}

function cacheKey(request) {
  return JSON.stringify(request);
}

const unbounded = new Map();
async function renderCachedUnbounded(request) {
  const key = cacheKey(request);
  let image = unbounded.get(key);
  if (image === undefined) {
    image = await renderDataUri(request);
    unbounded.set(key, image);
  }
  return image;
}

/** An LRU bounded by bytes: Map keeps insertion order, so the first key is the least recently used. */
const lru = new Map();
let lruBytes = 0;
async function renderCachedLru(request) {
  const key = cacheKey(request);
  let image = lru.get(key);
  if (image !== undefined) {
    lru.delete(key);
    lru.set(key, image);
    return image;
  }
  image = await renderDataUri(request);
  lru.set(key, image);
  lruBytes += key.length + image.length;
  for (const [oldKey, oldImage] of lru) {
    if (lruBytes <= MAX_CACHE_BYTES) break;
    lru.delete(oldKey);
    lruBytes -= oldKey.length + oldImage.length;
  }
  return image;
}

const loop = (render, entries) => async (sample) => {
  const pprofAt = process.argv.indexOf('--pprof');
  if (pprofAt !== -1) await startHeapProfile();
  const start = Date.UTC(2026, 10, 27);
  for (let i = 0; i <= ITERATIONS; i++) {
    if (i % 100 === 0) sample(i, `cache entries: ${entries()}`);
    await render(requestFor(start + i * 1_000)); // one request a second: every key is new
    await turnEventLoop();
  }
  if (pprofAt !== -1) {
    globalThis.gc?.();
    await writeHeapProfile(process.argv[pprofAt + 1]);
    console.error(`wrote ${process.argv[pprofAt + 1]}: go tool pprof -top ${process.argv[pprofAt + 1]}`);
  }
};

await runExample(
  import.meta.url,
  {
    unbounded: { describe: 'Map from request to data URI, never evicted', run: loop(renderCachedUnbounded, () => unbounded.size) },
    lru: { describe: `LRU bounded to ${MAX_CACHE_BYTES / 1024 / 1024} MB`, run: loop(renderCachedLru, () => lru.size) },
  },
  { iterations: ITERATIONS },
);
