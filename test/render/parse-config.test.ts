import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChartdError, DEFAULT_LIMITS, countLiveCharts, createRenderJob, renderChart } from '../../src/index.js';
import { detectChartJsMajor } from '../../src/render/detect-version.js';
import { parseChartConfig } from '../../src/render/parse-config.js';
import { decodeImage, differingFraction } from '../helpers/images.js';

const EXPECTED = {
  type: 'bar',
  data: { labels: ['Q1', 'Q2', "Q3's"], datasets: [{ label: 'Revenue', data: [10, 20, 15], backgroundColor: 'rgb(255,0,0)' }] },
  options: { legend: { display: false } },
};

const AS_JSON = JSON.stringify(EXPECTED);

/** What QuickChart users paste: unquoted keys, single quotes, trailing commas, comments. */
const AS_OBJECT_LITERAL = `{
  // a Chart.js 2 bar chart
  type: 'bar',
  data: {
    labels: ['Q1', "Q2", 'Q3\\'s',], /* escaped quote, trailing comma */
    datasets: [{ label: 'Revenue', data: [10, 20, 15,], backgroundColor: 'rgb(255,0,0)', },],
  },
  options: { legend: { display: false } },
}`;

/** 1-based line and column of the first occurrence of `needle`, computed independently of src. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const index = text.indexOf(needle);
  assert.ok(index >= 0, `fixture contains ${needle}`);
  const before = text.slice(0, index).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

function assertChartdError(code: string, message?: RegExp) {
  return (error: unknown): true => {
    assert.ok(error instanceof ChartdError, `a ChartdError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.statusCode, 400);
    if (message) assert.match(error.message, message);
    return true;
  };
}

describe('config text', () => {
  test('JSON and JavaScript object literal text parse to the same config as the object', () => {
    const limits = DEFAULT_LIMITS;
    assert.deepEqual(parseChartConfig(AS_JSON, limits).config, EXPECTED);
    assert.deepEqual(parseChartConfig(AS_OBJECT_LITERAL, limits).config, EXPECTED);
    assert.deepEqual(createRenderJob({ chart: AS_OBJECT_LITERAL }).config, createRenderJob({ chart: EXPECTED }).config);
  });

  test('JSON, object literal and object render the same image', async () => {
    const images = [];
    for (const chart of [EXPECTED, AS_JSON, AS_OBJECT_LITERAL]) {
      images.push(await decodeImage((await renderChart({ chart, width: 200, height: 100, devicePixelRatio: 1 })).body));
    }
    assert.equal(countLiveCharts(), 0);
    assert.equal(differingFraction(images[0]!, images[1]!), 0);
    assert.equal(differingFraction(images[0]!, images[2]!), 0);
  });

  test('an object is copied, never modified', () => {
    const chart = structuredClone(EXPECTED);
    const job = createRenderJob({ chart });
    assert.deepEqual(chart, EXPECTED);
    assert.notEqual(job.config, chart);
  });

  test('strings that look like code are data', () => {
    const text = `{type: 'bar', data: {datasets: [{label: 'function(x) { return x => 1 }', data: [1]}]}}`;
    const config = parseChartConfig(text, DEFAULT_LIMITS).config as { data: { datasets: Array<{ label: string }> } };
    assert.equal(config.data.datasets[0]!.label, 'function(x) { return x => 1 }');
  });

  test('empty and missing configs are CONFIG_MISSING', () => {
    for (const chart of [undefined, null, '', '   \n']) {
      assert.throws(() => parseChartConfig(chart, DEFAULT_LIMITS).config, assertChartdError('CONFIG_MISSING'));
    }
  });

  test('text that is neither JSON nor an object literal is CONFIG_SYNTAX, with where it broke', () => {
    assert.throws(
      () => parseChartConfig(`{type: 'bar', data: {labels: ['a' 'b']}}`, DEFAULT_LIMITS).config,
      assertChartdError('CONFIG_SYNTAX', /near ".*'a' 'b'/),
    );
  });

  test('text that is not an object is CONFIG_INVALID', () => {
    for (const chart of ['[1, 2]', '42', '"bar"', 'null']) {
      assert.throws(() => parseChartConfig(chart, DEFAULT_LIMITS).config, assertChartdError('CONFIG_INVALID'), chart);
    }
  });

  test('text over maxConfigBytes is CONFIG_TOO_LARGE (413)', () => {
    const limits = { ...DEFAULT_LIMITS, maxConfigBytes: 64 };
    assert.throws(
      () => parseChartConfig(`{type: 'bar', data: {labels: ['${'x'.repeat(64)}']}}`, limits),
      (error: unknown) => error instanceof ChartdError && error.code === 'CONFIG_TOO_LARGE' && error.statusCode === 413,
    );
    // Multi-byte characters count as bytes, not characters: 30 × 3 bytes.
    assert.throws(() => parseChartConfig(`{t:'${'统'.repeat(30)}'}`, limits), { code: 'CONFIG_TOO_LARGE' });
  });
});

describe('functions in configs, with scripts off (--scripts off)', () => {
  const SCRIPTS_OFF = { ...DEFAULT_LIMITS, allowScripts: false };
  test('function(v){...} is CONFIG_FUNCTION naming its line, column and property', () => {
    const text = [
      '{',
      "  type: 'bar',",
      "  data: { labels: ['a'], datasets: [{ data: [1] }] },",
      "  options: { scales: { yAxes: [{ ticks: { callback: function(v) { return v + '%'; } } }] } }",
      '}',
    ].join('\n');
    const { line, column } = positionOf(text, 'function(v)');
    assert.throws(
      () => createRenderJob({ chart: text }, SCRIPTS_OFF),
      assertChartdError('CONFIG_FUNCTION', new RegExp(`line ${line} column ${column}\\b.*"callback"`)),
    );
  });

  test('a named function after a quoted key is CONFIG_FUNCTION', () => {
    const text = `{type:'bar',data:{datasets:[{data:[1]}]},options:{ticks:{"callback": function fmt (v) { return v }}}}`;
    const { line, column } = positionOf(text, 'function fmt');
    assert.throws(() => createRenderJob({ chart: text }, SCRIPTS_OFF), assertChartdError('CONFIG_FUNCTION', new RegExp(`line ${line} column ${column}\\b.*"callback"`)));
  });

  test('an arrow function with parameters in parentheses is CONFIG_FUNCTION at its start', () => {
    const text = [
      '{',
      "  type: 'bar',",
      "  data: { labels: ['a'], datasets: [{ data: [1] }] },",
      '  options: { plugins: { datalabels: { formatter: (value, ctx) => value * 2 } } }',
      '}',
    ].join('\n');
    const { line, column } = positionOf(text, '(value, ctx)');
    assert.throws(
      () => createRenderJob({ chart: text }, SCRIPTS_OFF),
      assertChartdError('CONFIG_FUNCTION', new RegExp(`line ${line} column ${column}\\b.*"formatter"`)),
    );
  });

  test('an arrow function with a bare parameter is CONFIG_FUNCTION at its start', () => {
    const text = `{type: 'line', data: {datasets: [{data: [1]}]},\n options: {ticks: {callback: v => v + 'ms'}}}`;
    const { line, column } = positionOf(text, 'v =>');
    assert.throws(() => createRenderJob({ chart: text }, SCRIPTS_OFF), assertChartdError('CONFIG_FUNCTION', new RegExp(`line ${line} column ${column}\\b.*"callback"`)));
  });

  test('a function value in a config object is CONFIG_FUNCTION naming its path', () => {
    const chart = { type: 'bar', data: { datasets: [{ data: [1] }] }, options: { ticks: { callback: (v: number) => v } } };
    assert.throws(() => createRenderJob({ chart }), assertChartdError('CONFIG_FUNCTION', /chart\.options\.ticks\.callback/));
  });

  test(
    'a function after a comment with an apostrophe is still CONFIG_FUNCTION',
    () => {
      const text = `{\n  // don't use code here\n  type: 'bar',\n  data: { datasets: [{ data: [1] }] },\n  options: { ticks: { callback: function(v) { return v } } }\n}`;
      assert.throws(() => createRenderJob({ chart: text }, SCRIPTS_OFF), assertChartdError('CONFIG_FUNCTION', /"callback"/));
    },
  );

  test('a method shorthand is CONFIG_FUNCTION too', () => {
    const text = `{type: 'bar', data: {datasets: [{data: [1]}]}, options: {plugins: {tooltip: {callbacks: {label(ctx) { return ctx.raw }}}}}}`;
    assert.throws(() => createRenderJob({ chart: text }, SCRIPTS_OFF), assertChartdError('CONFIG_FUNCTION', /"label"/));
  });

  test(
    'an arrow inside a comment does not turn a syntax error into CONFIG_FUNCTION',
    () => {
      const text = `{\n  // values => percent\n  type: 'bar' 'line'\n}`;
      assert.throws(() => createRenderJob({ chart: text }, SCRIPTS_OFF), assertChartdError('CONFIG_SYNTAX'));
    },
  );
});

describe('Chart.js version', () => {
  const data = { labels: ['a'], datasets: [{ data: [1] }] };

  test('configs without Chart.js 3+ syntax stay on Chart.js 2 (QuickChart default)', () => {
    const v2Configs: Array<Record<string, unknown>> = [
      { type: 'bar', data },
      { type: 'bar', data, options: {} },
      { type: 'bar', data, options: { scales: { yAxes: [{ ticks: { beginAtZero: true } }] } } },
      { type: 'bar', data, options: { scales: { xAxes: [{ stacked: true }], x: { stacked: true } } } },
      { type: 'bar', data, options: { title: { display: true, text: 't' }, legend: { display: false } } },
      { type: 'pie', data, options: { plugins: { datalabels: { display: true } } } },
      { type: 'bar', data, options: { scales: { x: [] } } },
    ];
    for (const config of v2Configs) assert.equal(detectChartJsMajor(config), 2, JSON.stringify(config.options));
  });

  test('Chart.js 3+ syntax selects Chart.js 4', () => {
    const v4Options = [
      { scales: { x: { stacked: true } } },
      { scales: { y: { beginAtZero: true } } },
      { scales: { r: { min: 0 } } },
      { indexAxis: 'y' },
      { plugins: { title: { display: true, text: 't' } } },
      { plugins: { legend: { display: false } } },
      { plugins: { tooltip: { enabled: false } } },
      { plugins: { subtitle: { display: true, text: 's' } } },
    ];
    for (const options of v4Options) assert.equal(detectChartJsMajor({ type: 'bar', data, options }), 4, JSON.stringify(options));
  });

  test('the job carries the detected version', () => {
    assert.equal(createRenderJob({ chart: { type: 'bar', data } }).version, 2);
    assert.equal(createRenderJob({ chart: `{type: 'bar', data: {}, options: {scales: {x: {}}}}` }).version, 4);
  });

  test('an explicit version wins over detection', () => {
    const v4Syntax = { type: 'bar', data, options: { plugins: { title: { display: true, text: 't' } } } };
    const v2Syntax = { type: 'bar', data, options: { scales: { yAxes: [{}] } } };
    assert.equal(createRenderJob({ chart: v4Syntax, version: '2' }).version, 2);
    assert.equal(createRenderJob({ chart: v4Syntax, version: 3 }).version, 3);
    assert.equal(createRenderJob({ chart: v2Syntax, version: '4' }).version, 4);
  });

  test('release strings and "latest" map to their major', () => {
    const cases: Array<[string | number, number]> = [
      ['latest', 4],
      ['LATEST', 4],
      ['3.9.1', 3],
      ['2.9.4', 2],
      ['4.4.0', 4],
      ['v4', 4],
      ['4.0.0-beta.1', 4],
      [' 3 ', 3],
      [2, 2],
    ];
    for (const [version, major] of cases) {
      assert.equal(createRenderJob({ chart: { type: 'bar', data }, version }).version, major, String(version));
    }
  });

  test('an unsupported version is VERSION_UNSUPPORTED', () => {
    for (const version of ['1', '5', '1.0.0', '5.0.0', 'abc', '3.9.1.2', '2.9.4; rm -rf /', 'next']) {
      assert.throws(
        () => createRenderJob({ chart: { type: 'bar', data }, version }),
        assertChartdError('VERSION_UNSUPPORTED', /version/),
        version,
      );
    }
  });
});
