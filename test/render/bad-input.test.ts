import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChartdError, countLiveCharts, DEFAULT_LIMITS, renderChart, type ErrorCode, type RenderRequest } from '../../src/index.js';

const bar = (datasets: unknown) => ({ type: 'bar', data: { labels: ['a', 'b'], datasets } });

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < depth; i++) value = { child: value };
  return { ...bar([{ data: [1, 2] }]), options: value };
}

const BAD_INPUTS: ReadonlyArray<{ name: string; request: RenderRequest; code: ErrorCode; field?: RegExp; scriptsOff?: boolean }> = [
  { name: 'no chart', request: { chart: undefined }, code: 'CONFIG_MISSING' },
  { name: 'empty string', request: { chart: '   ' }, code: 'CONFIG_MISSING' },
  { name: 'malformed JSON', request: { chart: '{"type": "bar", "data": ' }, code: 'CONFIG_SYNTAX' },
  { name: 'not an object', request: { chart: '[1, 2, 3]' }, code: 'CONFIG_INVALID' },
  { name: 'a number', request: { chart: 42 }, code: 'CONFIG_INVALID' },
  { name: 'type missing', request: { chart: { data: { datasets: [] } } }, code: 'CONFIG_INVALID', field: /chart\.type/ },
  { name: 'type not a string', request: { chart: { type: 7, data: {} } }, code: 'CONFIG_INVALID', field: /chart\.type/ },
  { name: 'data not an object', request: { chart: { type: 'bar', data: 5 } }, code: 'CONFIG_INVALID', field: /chart\.data/ },
  { name: 'no type, and a dataset without one', request: { chart: { data: { datasets: [{ type: 'bar', data: [1] }, { data: [2] }] } } }, code: 'CONFIG_INVALID', field: /chart\.type/ },
  { name: 'data an array', request: { chart: { type: 'bar', data: [1, 2] } }, code: 'CONFIG_INVALID', field: /chart\.data/ },
  { name: 'datasets not an array', request: { chart: { type: 'bar', data: { datasets: { data: [1] } } } }, code: 'CONFIG_INVALID', field: /datasets/ },
  { name: 'dataset not an object', request: { chart: bar([5]) }, code: 'CONFIG_INVALID', field: /datasets\[0\]/ },
  { name: 'dataset data a string', request: { chart: bar([{ data: '1,2' }]) }, code: 'CONFIG_INVALID', field: /datasets\[0\]\.data/ },
  { name: 'labels an object', request: { chart: { type: 'bar', data: { labels: { a: 1 }, datasets: [] } } }, code: 'CONFIG_INVALID', field: /labels/ },
  { name: 'Infinity', request: { chart: bar([{ data: [1, Infinity] }]) }, code: 'CONFIG_NOT_FINITE', field: /datasets\[0\]\.data\[1\]/ },
  { name: '-Infinity in a JS literal', request: { chart: "{type:'bar',data:{datasets:[{data:[-Infinity]}]}}" }, code: 'CONFIG_NOT_FINITE' },
  { name: 'unknown type', request: { chart: { type: 'pyramid', data: { datasets: [] } } }, code: 'CHART_TYPE_UNKNOWN', field: /pyramid/ },
  { name: 'unknown dataset type', request: { chart: bar([{ type: 'wave', data: [1] }]), version: '4' }, code: 'CHART_TYPE_UNKNOWN', field: /datasets\[0\]\.type/ },
  { name: 'a function with scripts off', request: { chart: "{type:'bar',data:{datasets:[{data:[1]}]},options:{scales:{y:{ticks:{callback: function(v){return v+'%'}}}}}}" }, code: 'CONFIG_FUNCTION', field: /callback/, scriptsOff: true },
  { name: 'an arrow function with scripts off', request: { chart: "{type:'bar',data:{datasets:[{data:[1]}]},options:{plugins:{tooltip:{callbacks:{label: (c) => c.raw}}}}}" }, code: 'CONFIG_FUNCTION', field: /label/, scriptsOff: true },
  { name: 'a callback that throws', request: { chart: "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback: function(v){ throw new Error('no ' + v) }}}]}}}" }, code: 'SCRIPT_ERROR', field: /no \d/ },
  { name: 'a config expression that throws', request: { chart: "{type:'bar',data:{datasets:[{data:[undefinedThing.x]}]}}" }, code: 'SCRIPT_ERROR', field: /undefinedThing/ },
  { name: 'a function object (library)', request: { chart: { type: 'bar', data: { datasets: [{ data: [1] }] }, options: { onClick: () => 1 } } }, code: 'CONFIG_FUNCTION', field: /onClick/ },
  { name: 'width too large', request: { chart: bar([]), width: 100_000 }, code: 'IMAGE_TOO_LARGE', field: /width/ },
  { name: 'height too large', request: { chart: bar([]), height: 3_001 }, code: 'IMAGE_TOO_LARGE', field: /height/ },
  { name: 'too many pixels', request: { chart: bar([]), width: 3_000, height: 3_000, devicePixelRatio: 2 }, code: 'IMAGE_TOO_LARGE', field: /pixels/ },
  { name: 'width zero', request: { chart: bar([]), width: 0 }, code: 'PARAM_INVALID', field: /width/ },
  { name: 'width not a number', request: { chart: bar([]), width: 'wide' }, code: 'PARAM_INVALID', field: /width/ },
  { name: 'devicePixelRatio NaN', request: { chart: bar([]), devicePixelRatio: 'NaN' }, code: 'PARAM_INVALID', field: /devicePixelRatio/ },
  { name: 'devicePixelRatio too high', request: { chart: bar([]), devicePixelRatio: 50 }, code: 'PARAM_INVALID' },
  { name: 'unknown format', request: { chart: bar([]), format: 'gif' }, code: 'FORMAT_UNSUPPORTED' },
  { name: 'unknown version', request: { chart: bar([]), version: '5' }, code: 'VERSION_UNSUPPORTED' },
  { name: 'bad background', request: { chart: bar([]), backgroundColor: 'url(javascript:alert(1))' }, code: 'PARAM_INVALID' },
  {
    name: 'a million points',
    request: { chart: bar([{ data: Array.from({ length: 1_000_000 }, (_, i) => i % 100) }]) },
    code: 'CONFIG_TOO_MANY_POINTS',
  },
  {
    name: 'a million points as text',
    request: { chart: JSON.stringify(bar([{ data: Array.from({ length: 1_000_000 }, (_, i) => i % 100) }])) },
    code: 'CONFIG_TOO_LARGE',
  },
  { name: 'too many datasets', request: { chart: bar(Array.from({ length: 101 }, () => ({ data: [1] }))) }, code: 'CONFIG_TOO_MANY_DATASETS' },
  { name: 'a huge label', request: { chart: { type: 'bar', data: { labels: ['x'.repeat(20_000)], datasets: [] } } }, code: 'CONFIG_STRING_TOO_LONG', field: /labels\[0\]/ },
  { name: 'deep nesting', request: { chart: nested(100) }, code: 'CONFIG_TOO_DEEP' },
  { name: 'deep nesting as text', request: { chart: `${'['.repeat(50_000)}${']'.repeat(50_000)}` }, code: 'CONFIG_INVALID' },
  { name: 'options an array', request: { chart: { ...bar([{ data: [1] }]), options: [1] } }, code: 'CONFIG_INVALID', field: /chart\.options/ },
];

for (const { name, request, code, field, scriptsOff } of BAD_INPUTS) {
  test(`bad input: ${name} → ${code}`, async () => {
    await assert.rejects(renderChart(request, scriptsOff ? { limits: { ...DEFAULT_LIMITS, allowScripts: false } } : {}), (error: unknown) => {
      assert.ok(error instanceof ChartdError, `not a ChartdError: ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.ok(error.statusCode >= 400 && error.statusCode < 500);
      if (field) assert.match(error.message, field);
      return true;
    });
    assert.equal(countLiveCharts(), 0);
  });
}

test('NaN in a JavaScript literal is a gap, not an error', async () => {
  const result = await renderChart({ chart: "{type:'line',data:{labels:[1,2,3],datasets:[{data:[1,NaN,3]}]}}" });
  assert.equal(result.contentType, 'image/png');
});

test('limits are the documented ones', () => {
  assert.equal(DEFAULT_LIMITS.maxWidth, 3_000);
  assert.equal(DEFAULT_LIMITS.maxHeight, 3_000);
});

test('a caller-supplied object is never modified', async () => {
  const chart = { type: 'bar', data: { datasets: [{ data: [1, NaN, 2] }] } };
  const before = JSON.stringify(chart);
  await renderChart({ chart });
  assert.equal(JSON.stringify(chart), before);
  assert.equal(Object.keys(chart).length, 2);
});

test('__proto__ in a config is data, not a prototype', async () => {
  const result = await renderChart({ chart: '{"type":"bar","data":{"datasets":[{"data":[1]}]},"__proto__":{"polluted":true}}' });
  assert.equal(result.contentType, 'image/png');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
