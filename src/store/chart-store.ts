import { randomBytes } from 'node:crypto';
import { ChartdError } from '../errors.js';

/**
 * Stored charts (POST /chart/create, GET /chart/render/:id): the request body
 * exactly as the client sent it, kept until it expires. The interface is async
 * so that stores on a server (Redis, PostgreSQL) implement it as they are; the
 * embedded one (sqlite-store.ts) answers synchronously underneath.
 *
 * Every method either resolves or rejects with a ChartdError: STORE_FULL when a
 * bound would be passed, STORE_UNAVAILABLE when the store itself failed (never
 * a raw driver error, so a route can answer with its code).
 */
export interface ChartStore {
  /** What it is, for logs: "sqlite:/path/to/charts.sqlite". */
  readonly description: string;
  /**
   * Stores `record` under `id` until `expiresAt` (ms since the epoch). Rejects
   * with STORE_FULL when the count or byte bound would be passed even after
   * expired charts are dropped. Never replaces an existing id.
   */
  put(id: string, record: ChartRecord, expiresAt: number): Promise<void>;
  /** The chart stored under `id`, or undefined when there is none or it has expired (at `now`). */
  get(id: string, now?: number): Promise<StoredChart | undefined>;
  /**
   * Rejects with STORE_FULL when a record of `bytes` could not be stored now
   * (after dropping expired charts): checked before a chart is rendered for
   * validation, so a full store costs no render. `put` checks again, atomically.
   */
  checkRoom(bytes: number, now?: number): Promise<void>;
  /** Drops every chart expired at `now`; resolves to how many. */
  deleteExpired(now?: number): Promise<number>;
  stats(): Promise<ChartStoreStats>;
  /** Closes the store (idempotent); any later call rejects with STORE_UNAVAILABLE. */
  close(): Promise<void>;
}

/** A chart request as POST /chart takes it: its body bytes and how they are encoded. */
export interface ChartRecord {
  kind: 'json' | 'form';
  body: Buffer;
}

export interface StoredChart extends ChartRecord {
  /** ms since the epoch. */
  createdAt: number;
  expiresAt: number;
}

export interface ChartStoreStats {
  charts: number;
  /** Bytes of the stored bodies. */
  bytes: number;
  maxCharts: number;
  maxBytes: number;
}

export interface ChartStoreBounds {
  maxCharts: number;
  maxBytes: number;
}

/** 16 random bytes: 128 bits, 22 characters of base64url. */
const ID_BYTES = 16;
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** A new chart id: 128 bits from the system's CSPRNG, base64url (URL-safe, no padding). */
export function newChartId(): string {
  return randomBytes(ID_BYTES).toString('base64url');
}

/** Whether `text` has the form of an id newChartId makes (anything else is never looked up). */
export function isChartId(text: unknown): text is string {
  return typeof text === 'string' && ID_PATTERN.test(text);
}

/** Whether one more chart of `bytes` stays within the bounds. */
export function fitsInStore(stats: ChartStoreStats, bytes: number): boolean {
  return stats.charts + 1 <= stats.maxCharts && stats.bytes + bytes <= stats.maxBytes;
}

/**
 * ChartStore.checkRoom from a store's own totals: expired charts are dropped only
 * when the bound is reached, then the totals are read again.
 */
export async function checkRoomFromStats(store: Pick<ChartStore, 'stats' | 'deleteExpired'>, bytes: number, now: number): Promise<void> {
  if (fitsInStore(await store.stats(), bytes)) return;
  await store.deleteExpired(now);
  const stats = await store.stats();
  if (!fitsInStore(stats, bytes)) throw storeFull(stats, bytes);
}

/** The one refusal of a full store. */
export function storeFull(stats: ChartStoreStats, bytes: number): ChartdError {
  const what =
    stats.charts + 1 > stats.maxCharts
      ? `it holds ${stats.charts} charts, the limit (--store-max-charts)`
      : `${bytes} more bytes would pass its limit of ${stats.maxBytes} (--store-max-mb; ${stats.bytes} used)`;
  return new ChartdError('STORE_FULL', `the chart store is full: ${what}; stored charts are dropped as they expire`);
}

/** A store failure as the code routes answer with; the cause stays on the error for the log. */
export function storeUnavailable(cause: unknown, doing: string): ChartdError {
  if (cause instanceof ChartdError) return cause;
  const detail = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : String(cause);
  return new ChartdError('STORE_UNAVAILABLE', `the chart store failed while ${doing} (${detail}); /chart is not affected`, { cause });
}

/**
 * A store that could not be opened: every call rejects with STORE_UNAVAILABLE,
 * so /chart/create and /chart/render answer 503 while /chart serves on.
 */
export class UnavailableChartStore implements ChartStore {
  readonly description: string;
  readonly #error: ChartdError;

  constructor(description: string, cause: unknown) {
    this.description = description;
    this.#error = storeUnavailable(cause, 'opening');
  }

  put(): Promise<void> {
    return Promise.reject(this.#error);
  }
  get(): Promise<StoredChart | undefined> {
    return Promise.reject(this.#error);
  }
  checkRoom(): Promise<void> {
    return Promise.reject(this.#error);
  }
  deleteExpired(): Promise<number> {
    return Promise.reject(this.#error);
  }
  stats(): Promise<ChartStoreStats> {
    return Promise.reject(this.#error);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
