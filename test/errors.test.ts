import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChartdError, toChartdError } from '../src/errors.js';

/** ChartdError is recognised across two copies of the library, as undici's errors are. */

test('a ChartdError from another copy of the module is instanceof ChartdError, and keeps its code', async () => {
  // A query string makes Node load errors.js a second time: a separate module, a separate class.
  const copy = (await import(`../src/errors.js?copy=${Date.now()}`)) as typeof import('../src/errors.js');
  assert.notEqual(copy.ChartdError, ChartdError, 'two classes');
  const foreign = new copy.ChartdError('CONFIG_SYNTAX', 'from the other copy');
  assert.ok(foreign instanceof ChartdError);
  assert.ok(new ChartdError('CONFIG_SYNTAX', 'local') instanceof copy.ChartdError);
  assert.equal(toChartdError(foreign).code, 'CONFIG_SYNTAX', 'toChartdError keeps it instead of wrapping it as INTERNAL');
});

test('plain errors and look-alikes without the brand are not ChartdErrors', () => {
  assert.equal(new Error('x') instanceof ChartdError, false);
  assert.equal({ name: 'ChartdError', code: 'CONFIG_SYNTAX', statusCode: 400 } instanceof ChartdError, false);
  assert.equal((null as unknown as object) instanceof ChartdError, false);
  assert.equal(Object.create(null) instanceof ChartdError, false);
});
