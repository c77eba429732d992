import { redactUrl, resolveStoreSpec, type ServiceOptions } from '../options.js';
import { UnavailableChartStore, type ChartStore } from './chart-store.js';
import { PostgresChartStore } from './postgres-store.js';
import { RedisChartStore } from './redis-store.js';
import { SqliteChartStore, SQLITE_FILE } from './sqlite-store.js';

export interface OpenedStore {
  store: ChartStore;
  /** Why the store could not be opened; the store then answers STORE_UNAVAILABLE to every call. */
  error?: unknown;
}

/**
 * The chart store the options name (--store): the embedded SQLite file under
 * --data-dir (`sqlite`, the default), a Redis server (`redis://`, `rediss://`) or a
 * PostgreSQL database (`postgres://`, `postgresql://`), the last two shared by every
 * replica pointed at them.
 *
 * A store that cannot be opened (a data dir that is a file, a disk that is full,
 * a file of a later schema) does not stop the service: /chart serves on, and the
 * stored-chart routes answer 503 STORE_UNAVAILABLE (the caller logs `error`). The
 * server stores connect in the background and reconnect by themselves: a server
 * that is down at start-up, or later, is 503s until it is back, never an error here.
 */
export function openChartStore(options: Pick<ServiceOptions, 'dataDir' | 'storeMaxCharts' | 'storeMaxMb'> & Partial<Pick<ServiceOptions, 'store'>>): OpenedStore {
  const bounds = { maxCharts: options.storeMaxCharts, maxBytes: options.storeMaxMb * 1024 * 1024 };
  let description = `sqlite:${options.dataDir}/${SQLITE_FILE}`;
  try {
    const spec = resolveStoreSpec(options.store ?? 'sqlite');
    switch (spec.type) {
      case 'sqlite':
        return { store: new SqliteChartStore(options.dataDir, bounds) };
      case 'redis':
        description = redactUrl(spec.url);
        return { store: new RedisChartStore({ url: spec.url, bounds }) };
      case 'postgres':
        description = redactUrl(spec.url);
        return { store: new PostgresChartStore({ url: spec.url, bounds }) };
    }
  } catch (error) {
    return { store: new UnavailableChartStore(description, error), error };
  }
}
