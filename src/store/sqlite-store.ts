import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { checkRoomFromStats, fitsInStore, storeFull, storeUnavailable, type ChartRecord, type ChartStore, type ChartStoreBounds, type ChartStoreStats, type StoredChart } from './chart-store.js';

/** The file under --data-dir. */
export const SQLITE_FILE = 'charts.sqlite';

/** Bumped when the schema changes; a file of a later version is refused rather than misread. */
const SCHEMA_VERSION = 1;

/** Expired charts dropped per statement: a purge of many never holds the event loop for long. */
const PURGE_BATCH = 500;

/** How long a statement waits for another connection's lock (a second process on the same file) before failing. */
const BUSY_TIMEOUT_MS = 2_000;

interface Row {
  kind: string;
  body: Buffer;
  created_at: number;
  expires_at: number;
}

interface Totals {
  charts: number;
  bytes: number;
}

/**
 * The embedded store: one SQLite file (better-sqlite3) in WAL mode, so reads never
 * wait for a write. Statements are prepared once. Counts and bytes are kept by
 * triggers in a one-row table, so a bound is checked in O(1) and stays right even
 * if another process writes the same file. `synchronous = FULL`: a URL that
 * /chart/create answered survives a crash or a power cut, at the cost of an
 * fsync a create.
 *
 * better-sqlite3 is synchronous: a lookup by id takes microseconds on the event
 * loop, a put of a 2 MiB body about a millisecond plus the fsync.
 */
export class SqliteChartStore implements ChartStore {
  readonly description: string;
  readonly #db: Database.Database;
  readonly #bounds: ChartStoreBounds;
  readonly #statements: {
    insert: Database.Statement<[string, string, Buffer, number, number]>;
    select: Database.Statement<[string, number], Row>;
    totals: Database.Statement<[], Totals>;
    purge: Database.Statement<[number, number]>;
  };
  readonly #insertWithinBounds: Database.Transaction<(id: string, record: ChartRecord, createdAt: number, expiresAt: number) => void>;
  #closed = false;

  /** Opens (creating the directory and file if missing) or throws the driver's error. */
  constructor(dataDir: string, bounds: ChartStoreBounds) {
    const directory = resolve(dataDir);
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const file = join(directory, SQLITE_FILE);
    this.description = `sqlite:${file}`;
    this.#bounds = bounds;
    const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
    try {
      // Stored configs can be private: the file is the service user's alone.
      chmodSync(file, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db);
      this.#statements = {
        insert: db.prepare('INSERT INTO charts (id, kind, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
        select: db.prepare('SELECT kind, body, created_at, expires_at FROM charts WHERE id = ? AND expires_at > ?'),
        totals: db.prepare('SELECT charts, bytes FROM chart_totals WHERE one = 1'),
        purge: db.prepare('DELETE FROM charts WHERE rowid IN (SELECT rowid FROM charts WHERE expires_at <= ? LIMIT ?)'),
      };
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
    this.#insertWithinBounds = db.transaction((id: string, record: ChartRecord, createdAt: number, expiresAt: number) => {
      const stats = this.#stats();
      if (!fitsInStore(stats, record.body.length)) throw storeFull(stats, record.body.length);
      this.#statements.insert.run(id, record.kind, record.body, createdAt, expiresAt);
    });
  }

  async put(id: string, record: ChartRecord, expiresAt: number): Promise<void> {
    const now = Date.now();
    await this.checkRoom(record.body.length, now);
    this.#run('storing a chart', () => this.#insertWithinBounds.immediate(id, record, now, expiresAt));
  }

  async get(id: string, now = Date.now()): Promise<StoredChart | undefined> {
    const row = this.#run('reading a chart', () => this.#statements.select.get(id, now));
    if (!row) return undefined;
    return { kind: row.kind === 'form' ? 'form' : 'json', body: row.body, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  checkRoom(bytes: number, now = Date.now()): Promise<void> {
    return checkRoomFromStats(this, bytes, now);
  }

  async deleteExpired(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (;;) {
      const { changes } = this.#run('dropping expired charts', () => this.#statements.purge.run(now, PURGE_BATCH));
      deleted += changes;
      if (changes < PURGE_BATCH) return deleted;
      // Let requests in between batches.
      await new Promise((resolveLater) => setImmediate(resolveLater));
    }
  }

  async stats(): Promise<ChartStoreStats> {
    return this.#run('counting charts', () => this.#stats());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #stats(): ChartStoreStats {
    const totals = this.#statements.totals.get() ?? { charts: 0, bytes: 0 };
    return { charts: totals.charts, bytes: totals.bytes, maxCharts: this.#bounds.maxCharts, maxBytes: this.#bounds.maxBytes };
  }

  /** Runs one driver call; any failure (closed, I/O, corrupt file, lock timeout) becomes STORE_UNAVAILABLE. */
  #run<T>(doing: string, call: () => T): T {
    if (this.#closed) throw storeUnavailable(new Error('the store is closed'), doing);
    try {
      return call();
    } catch (error) {
      throw storeUnavailable(error, doing);
    }
  }
}


/** Creates the schema in a new file; refuses a file written by a later chartd. */
function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`${db.name} has schema version ${version}; this chartd knows up to ${SCHEMA_VERSION}`);
  }
  if (version === SCHEMA_VERSION) return;
  db.transaction(() => {
    db.exec(`
      CREATE TABLE charts (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('json', 'form')),
        body BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX charts_by_expiry ON charts (expires_at);
      CREATE TABLE chart_totals (
        one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
        charts INTEGER NOT NULL,
        bytes INTEGER NOT NULL
      );
      INSERT INTO chart_totals (one, charts, bytes) VALUES (1, 0, 0);
      CREATE TRIGGER charts_counted_in AFTER INSERT ON charts BEGIN
        UPDATE chart_totals SET charts = charts + 1, bytes = bytes + length(NEW.body) WHERE one = 1;
      END;
      CREATE TRIGGER charts_counted_out AFTER DELETE ON charts BEGIN
        UPDATE chart_totals SET charts = charts - 1, bytes = bytes - length(OLD.body) WHERE one = 1;
      END;
    `);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
