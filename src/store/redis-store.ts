import { Redis } from 'ioredis';
import { firstConnection } from './connections.js';
import { redactUrl } from '../options.js';
import { checkRoomFromStats, storeFull, storeUnavailable, type ChartRecord, type ChartStore, type ChartStoreBounds, type ChartStoreStats, type StoredChart } from './chart-store.js';

/** Expired charts dropped per script call: one call never holds Redis (single-threaded) for long. */
const PURGE_BATCH = 500;

export interface RedisStoreOptions {
  /** redis://[user:password@]host[:port][/db] or rediss:// (TLS). */
  url: string;
  bounds: ChartStoreBounds;
  /** Prefix of every key this store writes; default "chartd:". Two prefixes are two stores on one server. */
  keyPrefix?: string;
  /** How long one command may take before it fails (STORE_UNAVAILABLE), ms. */
  commandTimeoutMs?: number;
  /** How long connecting may take, ms. */
  connectTimeoutMs?: number;
}

export const REDIS_DEFAULTS = { keyPrefix: 'chartd:', commandTimeoutMs: 2_000, connectTimeoutMs: 2_000 } as const;

/*
 * The layout, under the prefix P (default "chartd:"):
 *
 *   P chart:<id>      a hash {k: kind, b: body, c: createdAt, e: expiresAt}, with
 *                     PEXPIREAT expiresAt: Redis drops it and frees its memory at its
 *                     expiry by itself, whether any chartd runs or not.
 *   P charts:expiry   a sorted set id → expiresAt: the charts counted (ZCARD is the count)
 *   P charts:sizes    a hash id → body bytes
 *   P charts:bytes    a counter: the sum of charts:sizes
 *
 * Why an index next to Redis's own expiry: counters adjusted only by chartd would
 * drift as Redis expires keys behind its back (a key's expiry is not an event a
 * counter can be decremented on reliably: keyspace notifications are fire-and-forget
 * and off by default). The index counts a chart until chartd removes it from the
 * index, which it does for every entry whose score (expiry) has passed: in
 * deleteExpired (the service's purge timer), and inside put when the bounds would be
 * passed otherwise. So the counters are always exact for the index, and the index
 * lags Redis only by charts that have expired and whose memory Redis has already
 * freed: a bound never counts less than what Redis holds.
 *
 * Every write is one Lua script (Redis runs a script atomically, nothing interleaves):
 * put checks that the id is new (never replaced), checks both bounds, drops expired
 * entries if that makes room, and writes the chart, its expiry and the counters, or
 * none of them. Concurrent puts from any number of replicas therefore never pass a
 * bound. The scripts touch chart keys they compute from the prefix, so they need a
 * standalone Redis (or a primary with replicas / Sentinel), not Redis Cluster.
 *
 * Redis should run with `maxmemory-policy noeviction` (its default): an eviction
 * policy that drops chart keys early would leave them counted until their expiry;
 * a write past maxmemory then fails (OOM) and is STORE_UNAVAILABLE.
 */

/** KEYS: chart, expiry, sizes, bytes. ARGV: id, kind, body, createdAt, expiresAt, now, maxCharts, maxBytes, purgeBatch, chartKeyPrefix. */
const PUT_SCRIPT = `
local size = string.len(ARGV[3])
local maxCharts = tonumber(ARGV[7])
local maxBytes = tonumber(ARGV[8])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists', 0, 0}
end
-- An id still in the index whose chart Redis has already expired: count it out first.
local stale = redis.call('HGET', KEYS[3], ARGV[1])
if stale then
  redis.call('DECRBY', KEYS[4], stale)
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local charts = redis.call('ZCARD', KEYS[2])
local bytes = tonumber(redis.call('GET', KEYS[4]) or '0')
if charts + 1 > maxCharts or bytes + size > maxBytes then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[6], 'LIMIT', 0, tonumber(ARGV[9]))
  local freed = 0
  for _, id in ipairs(ids) do
    freed = freed + tonumber(redis.call('HGET', KEYS[3], id) or '0')
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('DEL', ARGV[10] .. id)
  end
  if freed > 0 then redis.call('DECRBY', KEYS[4], freed) end
  charts = charts - #ids
  bytes = bytes - freed
  if charts + 1 > maxCharts or bytes + size > maxBytes then
    return {'full', charts, bytes}
  end
end
redis.call('HSET', KEYS[1], 'k', ARGV[2], 'b', ARGV[3], 'c', ARGV[4], 'e', ARGV[5])
-- The times as the client sent them: a Lua number would be formatted with 14 digits at most.
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], size)
redis.call('INCRBY', KEYS[4], size)
return {'stored', charts + 1, bytes + size}
`;

/** KEYS: expiry, sizes, bytes. ARGV: now, limit, chartKeyPrefix. Returns how many entries it dropped. */
const PURGE_SCRIPT = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local freed = 0
for _, id in ipairs(ids) do
  freed = freed + tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[3] .. id)
end
if freed > 0 then redis.call('DECRBY', KEYS[3], freed) end
return #ids
`;

/** KEYS: expiry, bytes. Both totals at one instant. */
const STATS_SCRIPT = `return {redis.call('ZCARD', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}`;

type ScriptedRedis = Redis & {
  chartdPut(...args: (string | Buffer | number)[]): Promise<[string, number, number]>;
  chartdPurge(...args: (string | number)[]): Promise<number>;
  chartdStats(...args: string[]): Promise<[number, number]>;
};

/**
 * Stored charts on a Redis server (ioredis), shared by every chartd pointed at it.
 *
 * A dead or stuck Redis never holds a request: commands are not queued while the
 * connection is down (`enableOfflineQueue: false`: they fail at once), each command
 * has a deadline (`commandTimeout`), a command in flight when the connection drops
 * fails rather than being resent (a resent put would find its own id), and the client
 * reconnects in the background (at most a second apart) so the store recovers by
 * itself. Every failure is STORE_UNAVAILABLE (503 on the stored-chart routes only).
 */
export class RedisChartStore implements ChartStore {
  readonly description: string;
  readonly #redis: ScriptedRedis;
  readonly #bounds: ChartStoreBounds;
  readonly #keys: { chartPrefix: string; expiry: string; sizes: string; bytes: string };
  /** Settles when the first connection attempt has succeeded or failed (or timed out). */
  readonly #firstConnect: Promise<void>;
  #lastError: string | undefined;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    const prefix = options.keyPrefix ?? REDIS_DEFAULTS.keyPrefix;
    const connectTimeout = options.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs;
    this.description = redactUrl(options.url);
    this.#bounds = options.bounds;
    this.#keys = { chartPrefix: `${prefix}chart:`, expiry: `${prefix}charts:expiry`, sizes: `${prefix}charts:sizes`, bytes: `${prefix}charts:bytes` };
    const redis = new Redis(options.url, {
      connectTimeout,
      commandTimeout: options.commandTimeoutMs ?? REDIS_DEFAULTS.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Reconnect forever, quickly: the store comes back as soon as Redis does.
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000),
    });
    redis.defineCommand('chartdPut', { numberOfKeys: 4, lua: PUT_SCRIPT });
    redis.defineCommand('chartdPurge', { numberOfKeys: 3, lua: PURGE_SCRIPT });
    redis.defineCommand('chartdStats', { numberOfKeys: 2, lua: STATS_SCRIPT });
    // Without a listener ioredis prints every connection error; the next call reports it instead.
    redis.on('error', (error: Error & { code?: string }) => {
      this.#lastError = error.code ?? error.message;
    });
    redis.on('ready', () => {
      this.#lastError = undefined;
    });
    this.#redis = redis as ScriptedRedis;
    this.#firstConnect = firstConnection(redis, connectTimeout);
  }

  async put(id: string, record: ChartRecord, expiresAt: number): Promise<void> {
    const now = Date.now();
    await this.checkRoom(record.body.length, now);
    const k = this.#keys;
    const [outcome, charts, bytes] = await this.#run('storing a chart', () =>
      this.#redis.chartdPut(k.chartPrefix + id, k.expiry, k.sizes, k.bytes, id, record.kind, record.body, now, expiresAt, now, this.#bounds.maxCharts, this.#bounds.maxBytes, PURGE_BATCH, k.chartPrefix),
    );
    if (outcome === 'full') throw storeFull({ charts: Number(charts), bytes: Number(bytes), ...this.#bounds }, record.body.length);
    if (outcome === 'exists') throw storeUnavailable(Object.assign(new Error('a chart with this id exists'), { code: 'ID_EXISTS' }), 'storing a chart');
  }

  async get(id: string, now = Date.now()): Promise<StoredChart | undefined> {
    const [kind, body, createdAt, expiresAt] = await this.#run('reading a chart', () => this.#redis.hmgetBuffer(this.#keys.chartPrefix + id, 'k', 'b', 'c', 'e'));
    if (!kind || !body || !createdAt || !expiresAt) return undefined;
    const expires = Number(expiresAt.toString());
    // Redis expires the key at its expiry itself; this covers the millisecond around it (and `now` in tests).
    if (!(expires > now)) return undefined;
    return { kind: kind.toString() === 'form' ? 'form' : 'json', body, createdAt: Number(createdAt.toString()), expiresAt: expires };
  }

  checkRoom(bytes: number, now = Date.now()): Promise<void> {
    return checkRoomFromStats(this, bytes, now);
  }

  async deleteExpired(now = Date.now()): Promise<number> {
    const k = this.#keys;
    let deleted = 0;
    for (;;) {
      const dropped = Number(await this.#run('dropping expired charts', () => this.#redis.chartdPurge(k.expiry, k.sizes, k.bytes, now, PURGE_BATCH, k.chartPrefix)));
      deleted += dropped;
      if (dropped < PURGE_BATCH) return deleted;
    }
  }

  async stats(): Promise<ChartStoreStats> {
    const [charts, bytes] = await this.#run('counting charts', () => this.#redis.chartdStats(this.#keys.expiry, this.#keys.bytes));
    return { charts: Number(charts), bytes: Number(bytes), maxCharts: this.#bounds.maxCharts, maxBytes: this.#bounds.maxBytes };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#redis.status === 'ready') {
      // QUIT lets commands already sent finish; a Redis that does not answer is cut.
      await Promise.race([this.#redis.quit().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
    this.#redis.disconnect();
  }

  /** One command; not connected, a timeout or an error reply becomes STORE_UNAVAILABLE. */
  async #run<T>(doing: string, call: () => Promise<T>): Promise<T> {
    if (this.#closed) throw storeUnavailable(new Error('the store is closed'), doing);
    // Only the first connection is waited for (a request right after start-up); later, a
    // disconnected store fails at once rather than holding requests while Redis is away.
    await this.#firstConnect;
    if (this.#redis.status !== 'ready') {
      throw storeUnavailable(Object.assign(new Error(`not connected to ${this.description}`), { code: this.#lastError ?? this.#redis.status }), doing);
    }
    try {
      return await call();
    } catch (error) {
      throw storeUnavailable(error, doing);
    }
  }
}

