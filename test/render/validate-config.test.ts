import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChartdError, DEFAULT_LIMITS } from '../../src/index.js';
import { validateChartConfig } from '../../src/render/validate-config.js';

/** root, type, data, datasets, the dataset, its data array and its three numbers. */
const NINE_VALUES = { type: 'line', data: { datasets: [{ data: [1, 2, 3] }] } };

function rejects(config: Record<string, unknown>, maxNodes: number): ChartdError | undefined {
  try {
    validateChartConfig(structuredClone(config), { ...DEFAULT_LIMITS, maxNodes });
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ChartdError, String(error));
    return error;
  }
}

describe('validateChartConfig', () => {
  test('every value counts toward maxNodes, the numbers of a data array included', () => {
    assert.equal(rejects(NINE_VALUES, 9), undefined);
    assert.equal(rejects(NINE_VALUES, 8)?.code, 'CONFIG_TOO_LARGE');
    const wide = { type: 'line', data: { datasets: [{ data: Array.from({ length: 1000 }, (_, i) => i) }] } };
    assert.equal(rejects(wide, 1006), undefined);
    assert.equal(rejects(wide, 1005)?.code, 'CONFIG_TOO_LARGE');
  });

  test('numbers in arrays: NaN becomes a gap, Infinity is refused with its path, nested arrays are copied', () => {
    const copy = validateChartConfig({ type: 'line', data: { datasets: [{ data: [1, Number.NaN, [2, Number.NaN], { x: 1, y: Number.NaN }] }] } }, DEFAULT_LIMITS);
    assert.deepEqual((copy.data as { datasets: Array<{ data: unknown }> }).datasets[0]!.data, [1, null, [2, null], { x: 1, y: null }]);
    assert.throws(
      () => validateChartConfig({ type: 'line', data: { datasets: [{ data: [1, 2, [3, Number.POSITIVE_INFINITY]] }] } }, DEFAULT_LIMITS),
      (error: unknown) => error instanceof ChartdError && error.code === 'CONFIG_NOT_FINITE' && error.message.startsWith('chart.data.datasets[0].data[2][1] is Infinity'),
    );
  });

  test('the copy is deep, and __proto__ stays a key', () => {
    const input = JSON.parse('{"type":"bar","data":{"datasets":[{"data":[1,2],"__proto__":{"polluted":true}}]}}') as Record<string, unknown>;
    const copy = validateChartConfig(input, DEFAULT_LIMITS);
    const dataset = (copy.data as { datasets: Array<Record<string, unknown>> }).datasets[0]!;
    assert.deepEqual(Object.getOwnPropertyDescriptor(dataset, '__proto__')?.value, { polluted: true });
    assert.equal((dataset as { polluted?: unknown }).polluted, undefined);
    assert.notEqual(dataset.data, ((input.data as { datasets: Array<Record<string, unknown>> }).datasets[0]!).data);
  });
});
