import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor, RateLimitPluginOptions } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { redactUrl, resolveStoreSpec } from '../options.js';
import { firstConnection, inLockedTransaction } from '../store/connections.js';

/**
 * Where the rate limit counts (--rate-limit), by --store:
 *
 * - redis:// — in that Redis, so every replica given the URL counts the same
 *   requests: one key per client and window, `chartd:ratelimit:<client>`, INCR'd and
 *   given a PEXPIRE of the window by one Lua script (atomic), so Redis drops it when
 *   the window ends: memory is bounded by the clients of one window.
 * - postgres:// — in that database: an UNLOGGED table chartd_rate_limits (key,
 *   count, window end) counted by one upsert (INSERT … ON CONFLICT … DO UPDATE …
 *   RETURNING) on the database's clock, expired rows deleted every window.
 * - sqlite (one replica) — in this process (@fastify/rate-limit's LRU of
 *   LOCAL_CLIENTS clients): the SQLite file is one replica's own, and a counter
 *   written to it on every request would be a synchronous disk write on the event
 *   loop that answers health checks.
 *
 * Both shared stores fail open: a counter that cannot be reached within
 * COMMAND_TIMEOUT_MS admits the request (@fastify/rate-limit's skipOnError), the
 * failure is counted (chartd_rate_limit_store_errors_total) and logged at most
 * every LOG_EVERY_MS. A Redis or PostgreSQL outage must cost the limit for its
 * duration, never /chart: the limit is protection against a client, the outage is
 * not the client's doing, and the workers' own bounds (queue, client budget,
 * connection caps) still hold in every replica.
 *
 * They use connections of their own, not the chart store's, with a tighter
 * deadline (every request waits on this one, not only the stored-chart routes).
 */

/** Clients the in-process limiter remembers; the least recently seen is forgotten first. */
export const LOCAL_CLIENTS = 10_000;
/** How long a shared counter may take before the request is admitted uncounted, ms. */
export const COMMAND_TIMEOUT_MS = 500;
const LOG_EVERY_MS = 10_000;
const REDIS_PREFIX = 'chartd:ratelimit:';
const PURGE_BATCH = 1_000;
/** Any constant: the advisory lock that serialises creating the table across replicas starting together. */
const TABLE_LOCK = 0x72617465; // "rate"

export interface RateLimitStoreEvents {
  /** A count failed and the request was admitted uncounted. */
  onError(store: 'redis' | 'postgres', error: unknown): void;
}

export interface OpenedRateLimitStore {
  /** What to give @fastify/rate-limit: a store class, or the in-process LRU's size. */
  plugin: Pick<RateLimitPluginOptions, 'store' | 'cache' | 'skipOnError'>;
  /** For logs: "in process", or the redacted URL. */
  description: string;
  close(): Promise<void>;
}

/** One count: the requests of `key` in its current window (this one included), and ms left of it. */
interface Count {
  current: number;
  ttl: number;
}

interface Counter {
  incr(key: string, windowMs: number): Promise<Count>;
  close(): Promise<void>;
}

/** The rate limiter's store for these options' --store. */
export function openRateLimitStore(store: string, events: RateLimitStoreEvents): OpenedRateLimitStore {
  const spec = resolveStoreSpec(store);
  if (spec.type === 'sqlite') return { plugin: { cache: LOCAL_CLIENTS }, description: 'in process', close: async () => {} };
  const counter = spec.type === 'redis' ? new RedisCounter(spec.url) : new PostgresCounter(spec.url);
  const kind = spec.type;
  class SharedStore implements FastifyRateLimitStore {
    constructor(_options?: FastifyRateLimitOptions) {}
    incr(key: string, callback: (error: Error | null, result?: Count) => void, timeWindow: number): void {
      counter.incr(key, timeWindow).then(
        (count) => callback(null, count),
        (error: unknown) => {
          events.onError(kind, error);
          callback(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }
    // One counter per client for every route: the limit is the client's, not a route's.
    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return {
    plugin: { store: SharedStore as FastifyRateLimitStoreCtor, skipOnError: true },
    description: redactUrl(spec.url),
    close: () => counter.close(),
  };
}

/** Logs a failing store at most every LOG_EVERY_MS, with how many failed in between. */
export function throttledLog(log: (fields: object, message: string) => void): (store: string, error: unknown) => void {
  let last = 0;
  let missed = 0;
  return (store, error) => {
    const now = Date.now();
    if (now - last < LOG_EVERY_MS) {
      missed++;
      return;
    }
    last = now;
    const detail = error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error);
    log({ store, error: detail, failedSinceLastLog: missed }, 'rate limit store failed: requests are admitted uncounted until it is back');
    missed = 0;
  };
}

/** KEYS: the counter. ARGV: the window, ms. Returns {count, ms left}. */
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

type ScriptedRedis = Redis & { chartdRateLimit(key: string, windowMs: number): Promise<[number, number]> };

class RedisCounter implements Counter {
  readonly #redis: ScriptedRedis;
  readonly #firstConnect: Promise<void>;

  constructor(url: string) {
    const redis = new Redis(url, {
      connectTimeout: 2_000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Not connected: fail at once (admitted uncounted), never queue behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000),
    });
    redis.defineCommand('chartdRateLimit', { numberOfKeys: 1, lua: INCR_SCRIPT });
    // Without a listener ioredis prints every connection error; failed counts are logged instead.
    redis.on('error', () => {});
    this.#redis = redis as ScriptedRedis;
    // The first connection is waited for (requests right after start-up are counted); later, a
    // disconnected Redis fails a count at once.
    this.#firstConnect = firstConnection(redis, 2_000);
  }

  async incr(key: string, windowMs: number): Promise<Count> {
    await this.#firstConnect;
    const [current, ttl] = await this.#redis.chartdRateLimit(REDIS_PREFIX + key, windowMs);
    return { current: Number(current), ttl: Number(ttl) };
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}

const SQL = {
  upsert: {
    name: 'chartd-rate-limit-incr',
    // The database's clock, not each replica's: every replica sees the same window.
    text: `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
INSERT INTO chartd_rate_limits AS r (key, count, window_end) SELECT $1, 1, now.ms + $2 FROM now
ON CONFLICT (key) DO UPDATE SET
  count = CASE WHEN r.window_end <= excluded.window_end - $2 THEN 1 ELSE r.count + 1 END,
  window_end = CASE WHEN r.window_end <= excluded.window_end - $2 THEN excluded.window_end ELSE r.window_end END
RETURNING count, window_end - (SELECT ms FROM now) AS ttl`,
  },
  purge: {
    name: 'chartd-rate-limit-purge',
    text: `DELETE FROM chartd_rate_limits WHERE key IN (
  SELECT key FROM chartd_rate_limits WHERE window_end <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint LIMIT ${PURGE_BATCH})`,
  },
} as const;

const TABLE = `
CREATE UNLOGGED TABLE IF NOT EXISTS chartd_rate_limits (
  key text PRIMARY KEY,
  count bigint NOT NULL,
  window_end bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS chartd_rate_limits_by_end ON chartd_rate_limits (window_end);
`;

class PostgresCounter implements Counter {
  readonly #pool: pg.Pool;
  #table: Promise<void> | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #purgeEveryMs = Number.POSITIVE_INFINITY;

  constructor(url: string) {
    this.#pool = new pg.Pool({
      connectionString: url,
      max: 4,
      connectionTimeoutMillis: COMMAND_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      statement_timeout: COMMAND_TIMEOUT_MS,
      query_timeout: COMMAND_TIMEOUT_MS + 500,
      application_name: 'chartd-rate-limit',
      keepAlive: true,
    });
    this.#pool.on('error', () => {});
  }

  async incr(key: string, windowMs: number): Promise<Count> {
    this.#schedulePurge(windowMs);
    this.#table ??= this.#createTable().catch((error: unknown) => {
      this.#table = undefined;
      throw error;
    });
    await this.#table;
    const { rows } = await this.#pool.query<{ count: string; ttl: string }>({ ...SQL.upsert, values: [key, windowMs] });
    const row = rows[0];
    if (!row) throw new Error('the rate limit upsert returned no row');
    return { current: Number(row.count), ttl: Math.max(0, Number(row.ttl)) };
  }

  async close(): Promise<void> {
    clearInterval(this.#purgeTimer);
    const ended = this.#pool.end().catch(() => undefined);
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  /** Rows of windows that have ended are deleted once a window (at least every 10 s, at most every 5 min). */
  #schedulePurge(windowMs: number): void {
    const every = Math.min(300_000, Math.max(10_000, windowMs));
    if (every >= this.#purgeEveryMs) return;
    this.#purgeEveryMs = every;
    clearInterval(this.#purgeTimer);
    this.#purgeTimer = setInterval(() => {
      this.#pool.query(SQL.purge).catch(() => undefined);
    }, every);
    this.#purgeTimer.unref();
  }

  async #createTable(): Promise<void> {
    await inLockedTransaction(this.#pool, TABLE_LOCK, async (client) => {
      await client.query(TABLE);
    });
  }
}
