import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { RawChartRequest } from '../render/chart-request.js';
import type { JobSummary } from '../render/answer-chart-request.js';

/** One rendered image, as the route sends it. */
export interface CachedRender {
  body: Buffer;
  contentType: string;
  etag: string;
  job: JobSummary;
}

export interface RenderCacheOptions {
  maxBytes: number;
  ttlMs: number;
}

export interface RenderCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  bytes: number;
  entries: number;
  maxBytes: number;
}

/** Bytes an entry costs besides its body: the key, the strings, the map's node. */
const ENTRY_OVERHEAD_BYTES = 512;

/** No one image may take more than this share of the cache, so a few big SVGs cannot flush it. */
const MAX_ENTRY_SHARE = 8;

/**
 * Rendered images by request, in the main process: e-mail and chat embeds fetch
 * the same URL again and again, and a hit costs no worker, no queue place and no
 * render budget. Bounded in bytes (LRU) and in age (TTL); only successful renders
 * are kept. A key is a hash of what the worker would read: the route and the raw
 * query or body, so two requests with the same key get the same bytes.
 */
export class RenderCache {
  readonly #cache: LRUCache<string, CachedRender>;
  readonly #maxBytes: number;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(options: RenderCacheOptions) {
    this.#maxBytes = options.maxBytes;
    this.#cache = new LRUCache<string, CachedRender>({
      maxSize: options.maxBytes,
      maxEntrySize: Math.floor(options.maxBytes / MAX_ENTRY_SHARE),
      sizeCalculation: (entry, key) => entry.body.length + key.length + ENTRY_OVERHEAD_BYTES,
      ttl: options.ttlMs,
      // Expired entries are dropped when read and when space is needed: no timer per entry.
      ttlAutopurge: false,
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  get(key: string): CachedRender | undefined {
    const entry = this.#cache.get(key);
    if (entry) this.#hits++;
    else this.#misses++;
    return entry;
  }

  /** Whether a fresh entry exists, without counting a hit or refreshing its recency. */
  has(key: string): boolean {
    return this.#cache.has(key);
  }

  set(key: string, entry: CachedRender): void {
    // A view into a bigger buffer (IPC framing) would keep all of it alive: keep a copy of the image only.
    const body = entry.body.byteOffset === 0 && entry.body.buffer.byteLength === entry.body.length ? entry.body : Buffer.from(entry.body);
    this.#cache.set(key, { ...entry, body });
  }

  clear(): void {
    this.#cache.clear();
  }

  stats(): RenderCacheStats {
    // Purge first, so the byte count never includes entries no request can get.
    this.#cache.purgeStale();
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      bytes: this.#cache.calculatedSize,
      entries: this.#cache.size,
      maxBytes: this.#maxBytes,
    };
  }
}

/**
 * The cache key of a request: what the worker reads to draw it (its kind, and
 * its query or body bytes) and chartd's version. Headers do not change an image
 * (If-None-Match and Accept change only what is sent for it), so they are not in
 * the key. The same chart sent as a query and as a JSON body is two entries.
 */
export function renderCacheKey(raw: RawChartRequest, chartdVersion: string): string {
  const hash = createHash('sha256').update(chartdVersion).update('\0').update(raw.kind).update('\0');
  if (raw.kind === 'json' || raw.kind === 'form') return hash.update(raw.body).digest('base64url');
  hash.update(canonicalParams(raw.params));
  // The '+'-as-space reading is a fallback the worker may take: it is part of what decides the image.
  if (raw.kind === 'query' && raw.paramsIfPlusIsSpace) hash.update('\0').update(canonicalParams(raw.paramsIfPlusIsSpace));
  return hash.digest('base64url');
}

/** Parameters in a stable order, so `?w=1&c=x` and `?c=x&w=1` share an entry. */
function canonicalParams(params: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
