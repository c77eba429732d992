import pg from 'pg';
import { inLockedTransaction } from './connections.js';
import { ChartdError } from '../errors.js';
import { redactUrl } from '../options.js';
import { checkRoomFromStats, fitsInStore, storeFull, storeUnavailable, type ChartRecord, type ChartStore, type ChartStoreBounds, type ChartStoreStats, type StoredChart } from './chart-store.js';

/** Bumped when the schema changes; a database of a later version is refused rather than misread. */
const SCHEMA_VERSION = 1;

/** Expired charts dropped per statement: a purge never holds the totals lock for long. */
const PURGE_BATCH = 500;

/** Any constant: the advisory lock that serialises creating the schema across replicas starting together. */
const SCHEMA_LOCK = 0x63686172; // "char"

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (libpq's URL form; ?sslmode=... as pg takes it). */
  url: string;
  bounds: ChartStoreBounds;
  /** Connections kept at most. */
  maxConnections?: number;
  /** How long getting a connection may take (connecting, or waiting for a free one), ms. */
  connectTimeoutMs?: number;
  /** Server-side deadline of one statement (statement_timeout), ms; the client gives up a second later. */
  statementTimeoutMs?: number;
}

export const POSTGRES_DEFAULTS = { maxConnections: 10, connectTimeoutMs: 2_000, statementTimeoutMs: 2_000 } as const;

/*
 * One table, chartd_charts (id text primary key, kind, body bytea, created_at and
 * expires_at in ms since the epoch, bigint), an index on expires_at, and a one-row
 * table chartd_chart_totals (charts, bytes) kept by statement-level triggers on
 * insert and delete: a bound is checked in O(1), not by count(*) over the table, and
 * the totals stay right whoever deletes rows (chartd's purge or an operator).
 *
 * Bounds are checked atomically: every write begins by locking the totals row
 * (SELECT ... FOR UPDATE), so puts and purges from any number of replicas run one at
 * a time, and a put that finds no room drops expired rows in the same transaction
 * before it gives up. Taking the totals row first in every writer also means a put's
 * purge and the service's purge never deadlock. Reads take no lock.
 */
const SCHEMA = `
CREATE TABLE chartd_charts (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('json', 'form')),
  body bytea NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX chartd_charts_by_expiry ON chartd_charts (expires_at);
CREATE TABLE chartd_chart_totals (
  one integer PRIMARY KEY CHECK (one = 1),
  charts bigint NOT NULL,
  bytes bigint NOT NULL
);
INSERT INTO chartd_chart_totals (one, charts, bytes) VALUES (1, 0, 0);
CREATE FUNCTION chartd_charts_counted_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE chartd_chart_totals SET charts = charts + (SELECT count(*) FROM added),
    bytes = bytes + (SELECT coalesce(sum(octet_length(body)), 0) FROM added) WHERE one = 1;
  RETURN NULL;
END $$;
CREATE FUNCTION chartd_charts_counted_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE chartd_chart_totals SET charts = charts - (SELECT count(*) FROM removed),
    bytes = bytes - (SELECT coalesce(sum(octet_length(body)), 0) FROM removed) WHERE one = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER chartd_charts_counted_in AFTER INSERT ON chartd_charts
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION chartd_charts_counted_in();
CREATE TRIGGER chartd_charts_counted_out AFTER DELETE ON chartd_charts
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION chartd_charts_counted_out();
`;

const SQL = {
  lockTotals: { name: 'chartd-lock-totals', text: 'SELECT charts, bytes FROM chartd_chart_totals WHERE one = 1 FOR UPDATE' },
  totals: { name: 'chartd-totals', text: 'SELECT charts, bytes FROM chartd_chart_totals WHERE one = 1' },
  insert: {
    name: 'chartd-insert',
    text: 'INSERT INTO chartd_charts (id, kind, body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
  },
  select: { name: 'chartd-select', text: 'SELECT kind, body, created_at, expires_at FROM chartd_charts WHERE id = $1 AND expires_at > $2' },
  purge: {
    name: 'chartd-purge',
    text: 'DELETE FROM chartd_charts WHERE id IN (SELECT id FROM chartd_charts WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)',
  },
} as const;

interface TotalsRow {
  charts: string;
  bytes: string;
}

interface ChartRow {
  kind: string;
  body: Buffer;
  created_at: string;
  expires_at: string;
}

/**
 * Stored charts in a PostgreSQL database (pg), shared by every chartd pointed at it.
 * The schema is created on first use (under an advisory lock, so replicas starting
 * together do not race), and again after a failure, so a database that is down when
 * chartd starts costs 503s until it is up, never the service.
 *
 * A dead or stuck server never holds a request: getting a connection is bounded
 * (connectionTimeoutMillis, also while all connections are busy), a statement is
 * bounded on the server (statement_timeout, lock waits included) and on the client
 * (query_timeout, for a server that does not answer at all), a transaction left idle
 * is ended by the server (idle_in_transaction_session_timeout). Every failure is
 * STORE_UNAVAILABLE (503 on the stored-chart routes only).
 */
export class PostgresChartStore implements ChartStore {
  readonly description: string;
  readonly #pool: pg.Pool;
  readonly #bounds: ChartStoreBounds;
  #schema: Promise<void> | undefined;
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.description = redactUrl(options.url);
    this.#bounds = options.bounds;
    const statementTimeout = options.statementTimeoutMs ?? POSTGRES_DEFAULTS.statementTimeoutMs;
    this.#pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? POSTGRES_DEFAULTS.maxConnections,
      connectionTimeoutMillis: options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: statementTimeout,
      query_timeout: statementTimeout + 1_000,
      idle_in_transaction_session_timeout: statementTimeout * 5,
      application_name: 'chartd',
      keepAlive: true,
    });
    // An idle connection the server drops (a restart, a failover) is an 'error' event on
    // the pool; without a listener it would end the process. The pool replaces it.
    this.#pool.on('error', () => {});
  }

  async put(id: string, record: ChartRecord, expiresAt: number): Promise<void> {
    const now = Date.now();
    await this.checkRoom(record.body.length, now);
    await this.#transaction('storing a chart', async (client) => {
      let stats = this.#stats((await client.query<TotalsRow>(SQL.lockTotals)).rows[0]);
      if (!fitsInStore(stats, record.body.length)) {
        await client.query({ ...SQL.purge, values: [now, PURGE_BATCH] });
        stats = this.#stats((await client.query<TotalsRow>(SQL.totals)).rows[0]);
        if (!fitsInStore(stats, record.body.length)) throw storeFull(stats, record.body.length);
      }
      const inserted = await client.query({ ...SQL.insert, values: [id, record.kind, record.body, now, expiresAt] });
      if (inserted.rowCount !== 1) throw storeUnavailable(Object.assign(new Error('a chart with this id exists'), { code: 'ID_EXISTS' }), 'storing a chart');
    });
  }

  async get(id: string, now = Date.now()): Promise<StoredChart | undefined> {
    const { rows } = await this.#query<ChartRow>('reading a chart', { ...SQL.select, values: [id, now] });
    const row = rows[0];
    if (!row) return undefined;
    return { kind: row.kind === 'form' ? 'form' : 'json', body: row.body, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at) };
  }

  checkRoom(bytes: number, now = Date.now()): Promise<void> {
    return checkRoomFromStats(this, bytes, now);
  }

  async deleteExpired(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (;;) {
      const dropped = await this.#transaction('dropping expired charts', async (client) => {
        await client.query(SQL.lockTotals);
        return (await client.query({ ...SQL.purge, values: [now, PURGE_BATCH] })).rowCount ?? 0;
      });
      deleted += dropped;
      if (dropped < PURGE_BATCH) return deleted;
    }
  }

  async stats(): Promise<ChartStoreStats> {
    return this.#stats((await this.#query<TotalsRow>('counting charts', SQL.totals)).rows[0]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Ending a connection waits for the server to close it: a stuck server would hold shutdown forever.
    const ended = this.#pool.end().catch(() => undefined);
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
  }

  #stats(row: TotalsRow | undefined): ChartStoreStats {
    return { charts: Number(row?.charts ?? 0), bytes: Number(row?.bytes ?? 0), maxCharts: this.#bounds.maxCharts, maxBytes: this.#bounds.maxBytes };
  }

  async #query<R extends pg.QueryResultRow>(doing: string, query: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    await this.#ready(doing);
    try {
      return await this.#pool.query<R>(query);
    } catch (error) {
      throw storeUnavailable(error, doing);
    }
  }

  /** `work` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
  async #transaction<T>(doing: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.#ready(doing);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw storeUnavailable(error, doing);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (error instanceof ChartdError) {
        // A refusal (STORE_FULL, an id that exists) leaves a healthy connection.
        await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = asError(rollbackError)));
      } else {
        // A driver error or a timeout: the connection may be dead or still busy. It is
        // dropped (the server rolls its transaction back), never handed to the next request.
        broken = asError(error);
      }
      throw storeUnavailable(error, doing);
    } finally {
      client.release(broken);
    }
  }

  /** The schema, created on first use; a failure is retried by the next call. */
  async #ready(doing: string): Promise<void> {
    if (this.#closed) throw storeUnavailable(new Error('the store is closed'), doing);
    this.#schema ??= this.#migrate().catch((error: unknown) => {
      this.#schema = undefined;
      throw error;
    });
    try {
      await this.#schema;
    } catch (error) {
      throw storeUnavailable(error, doing);
    }
  }

  async #migrate(): Promise<void> {
    await inLockedTransaction(this.#pool, SCHEMA_LOCK, async (client) => {
      await client.query('CREATE TABLE IF NOT EXISTS chartd_schema (one integer PRIMARY KEY CHECK (one = 1), version integer NOT NULL)');
      const version = Number((await client.query<{ version: number }>('SELECT version FROM chartd_schema WHERE one = 1')).rows[0]?.version ?? 0);
      if (version > SCHEMA_VERSION) throw new Error(`the database has chartd schema version ${version}; this chartd knows up to ${SCHEMA_VERSION}`);
      if (version < SCHEMA_VERSION) {
        await client.query(SCHEMA);
        await client.query('INSERT INTO chartd_schema (one, version) VALUES (1, $1)', [SCHEMA_VERSION]);
      }
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

