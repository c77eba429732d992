import assert from 'node:assert/strict';
import { ChartdError } from '../../src/errors.js';
import type { ChartRecord } from '../../src/store/chart-store.js';

/** A stored chart's record from JSON text. */
export const body = (text: string): ChartRecord => ({ kind: 'json', body: Buffer.from(text) });

/** Awaits `promise` and asserts it rejects with a ChartdError of `code`; resolves to that error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ChartdError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ChartdError, `a ChartdError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}
