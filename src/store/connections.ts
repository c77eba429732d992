import type { Redis } from 'ioredis';
import type { Pool, PoolClient } from 'pg';

/**
 * Connection helpers shared by the chart stores and the rate limit's shared counters,
 * which keep connections of their own to the same Redis or PostgreSQL.
 */

/**
 * Resolves once a new ioredis client is ready, has failed or ended, or after `timeoutMs`:
 * the first commands after start-up wait for a connection; later ones fail at once
 * (offline queue off), so nothing ever waits longer than this.
 */
export function firstConnection(redis: Redis, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      redis.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    redis.once('ready', done);
    redis.once('error', done);
    redis.once('end', done);
  });
}

/**
 * Runs `work` in a transaction holding a PostgreSQL advisory lock, so that replicas starting
 * together create or migrate a table once. A client whose transaction failed is destroyed,
 * not returned to the pool.
 */
export async function inLockedTransaction(pool: Pool, lock: number, work: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [lock]);
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.release(broken);
  }
}
