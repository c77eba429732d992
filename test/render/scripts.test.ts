import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChartdError, countLiveCharts, createRenderJob, createRenderPool, DEFAULT_LIMITS, liveScriptSessions, loadScriptEngine, renderChart, type RenderRequest } from '../../src/index.js';
import { countColourPixels, countDrawnPixels, decodeImage, differingFraction, pixelAt, type DecodedImage } from '../helpers/images.js';
import { sampleMemory, slope } from '../helpers/memory.js';
import { ENGINE_MEMORY_MAX_BYTES, ENGINE_MEMORY_RETIRE_BYTES, scriptEngineMemoryBytes, scriptEngineReplacements } from '../../src/render/script/script-session.js';

/**
 * Issue 10: JavaScript in configs runs in a WebAssembly sandbox per render. The
 * callbacks' effects are checked in the pixels (a colour chosen from an argument
 * proves the argument arrived), the hostile ones by their codes.
 */

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];

async function render(chart: string, extra: Partial<RenderRequest> = {}): Promise<DecodedImage> {
  const { body } = await renderChart({ chart, width: 300, height: 200, devicePixelRatio: 1, ...extra });
  return decodeImage(body);
}

async function refusal(chart: string, limits = DEFAULT_LIMITS): Promise<ChartdError> {
  try {
    await renderChart({ chart, width: 300, height: 200, devicePixelRatio: 1 }, { limits });
  } catch (error) {
    assert.ok(error instanceof ChartdError, String(error));
    return error;
  }
  throw new assert.AssertionError({ message: 'the config rendered' });
}

test('a scriptable colour on Chart.js 4 sees context.raw and context.dataIndex', async () => {
  const image = await render("{type:'bar',data:{labels:['a','b','c'],datasets:[{data:[3,-2,1],backgroundColor:(ctx) => ctx.raw < 0 ? 'rgb(255,0,0)' : (ctx.dataIndex === 2 ? 'rgb(0,0,255)' : 'rgb(0,128,0)')}]}}", { version: '4' });
  assert.ok(countColourPixels(image, RED, 30) > 300, 'the negative bar is red');
  assert.ok(countColourPixels(image, BLUE, 30) > 300, 'the third bar is blue');
});

test('a Chart.js 2 scriptable colour gets context.dataset.data, as in a browser', async () => {
  const image = await render("{type:'bar',data:{labels:['a','b'],datasets:[{data:[5,1],backgroundColor:function(context){ var v = context.dataset.data[context.dataIndex]; return v > 3 ? 'rgb(255,0,0)' : 'rgb(0,0,255)'; }}]}}");
  assert.ok(countColourPixels(image, RED, 30) > countColourPixels(image, BLUE, 30) * 2, 'the taller bar is red, the shorter blue');
});

test('tick callbacks format labels; this.getLabelForValue works on Chart.js 3', async () => {
  const base = "{type:'bar',data:{labels:['aaaa','bbbb','cccc','dddd'],datasets:[{data:[1,2,3,4]}]},options:{legend:{display:false},scales:{%AXES%}}}";
  const every = base.replace('%AXES%', "x:{ticks:{callback:function(val, index){ return index % 2 === 0 ? this.getLabelForValue(val) : ''; }}}");
  const none = base.replace('%AXES%', "x:{ticks:{callback:function(){ return ''; }}}");
  const all = base.replace('%AXES%', "x:{ticks:{callback:function(val){ return this.getLabelForValue(val); }}}");
  const [everyOther, blank, full] = (await Promise.all([every, none, all].map((chart) => render(chart, { version: '3' })))) as [DecodedImage, DecodedImage, DecodedImage];
  const labelsOf = (image: DecodedImage) => {
    let count = 0;
    for (let y = image.height - 22; y < image.height; y++) for (let x = 0; x < image.width; x++) if (pixelAt(image, x, y)[3] > 100) count++;
    return count;
  };
  assert.ok(labelsOf(blank) < labelsOf(everyOther) && labelsOf(everyOther) < labelsOf(full), `${labelsOf(blank)} < ${labelsOf(everyOther)} < ${labelsOf(full)}`);
});

test('a datalabels formatter computes percentages from the dataset', async () => {
  const chart = (formatter: string) => `{type:'pie',data:{labels:['a','b'],datasets:[{data:[1,3],backgroundColor:['rgb(0,0,255)','rgb(0,0,255)']}]},options:{legend:{display:false},plugins:{datalabels:{color:'rgb(255,0,0)',font:{size:30},formatter:${formatter}}}}}`;
  const withText = await render(chart("(value, ctx) => { const sum = ctx.dataset.data.reduce((a, b) => a + b, 0); return Math.round(value * 100 / sum) + '%'; }"));
  const empty = await render(chart("() => ''"));
  assert.equal(countColourPixels(empty, RED, 60), 0);
  assert.ok(countColourPixels(withText, RED, 60) > 100, 'red percentage labels are drawn');
});

test('constant expressions: new Date(ms) on a time axis, Math.PI, string concatenation', async () => {
  const time = await render("{type:'line',data:{datasets:[{label:'a' + 'b',data:[{x:new Date(1600000000000),y:1},{x:new Date(1600086400000),y:3}]}]},options:{scales:{xAxes:[{type:'time'}]}}}");
  assert.ok(countDrawnPixels(time) > 500);
  const doughnut = (circumference: string) =>
    render(`{type:'doughnut',data:{datasets:[{data:[1,1],backgroundColor:['rgb(255,0,0)','rgb(255,0,0)']}]},options:{rotation:-Math.PI,circumference:${circumference},legend:{display:false}}}`);
  const [half, full] = await Promise.all([doughnut('Math.PI'), doughnut('2 * Math.PI')]);
  assert.ok(differingFraction(half, full) > 0.05, 'Math.PI made a half doughnut');
});

test('numbers format as Node formats them: toLocaleString and Intl.NumberFormat with options', async () => {
  const title = (text: string) => `{type:'bar',data:{datasets:[{data:[1]}]},options:{legend:{display:false},title:{display:true,fontSize:20,text:${text}}}}`;
  const cases = [
    ['(1234567.891).toLocaleString()', (1234567.891).toLocaleString('en-US')],
    ["(1234.5).toLocaleString('en-US', { minimumFractionDigits: 2 })", (1234.5).toLocaleString('en-US', { minimumFractionDigits: 2 })],
    ["new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(98765.4)", new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(98765.4)],
    ["Intl.NumberFormat('en-US', { style: 'percent' }).format(0.256)", new Intl.NumberFormat('en-US', { style: 'percent' }).format(0.256)],
  ] as const;
  for (const [expression, expected] of cases) {
    const [computed, literal] = await Promise.all([render(title(expression)), render(title(JSON.stringify(expected)))]);
    assert.equal(differingFraction(computed, literal), 0, `${expression} draws "${expected}"`);
  }
});

test("QuickChart's helpers: getGradientFillHelper and pattern.draw", async () => {
  const gradient = await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:getGradientFillHelper('vertical',['rgb(255,0,0)','rgb(0,0,255)'])}]},options:{legend:{display:false},scales:{yAxes:[{ticks:{beginAtZero:true}}]}}}");
  const x = Math.round(gradient.width / 2);
  const near = pixelAt(gradient, x, 40);
  const far = pixelAt(gradient, x, gradient.height - 40);
  assert.ok(near[0] > near[2] && far[2] > far[0], `red at the top (${near.join()}), blue at the bottom (${far.join()})`);
  const patterned = await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:pattern.draw('diagonal','rgb(0,0,255)','rgb(255,255,255)',20)}]},options:{legend:{display:false}}}");
  assert.ok(countColourPixels(patterned, BLUE, 40) > 500 && countColourPixels(patterned, [255, 255, 255], 30) > 500, 'stripes of both colours');
  // A shape name is looked up as data: 'constructor' is an unknown shape, drawn as patternomaly's default square.
  const unknown = await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:pattern.draw('constructor','rgb(255,0,0)')}]},options:{legend:{display:false}}}");
  assert.ok(countColourPixels(unknown, RED, 40) > 500);
});

test('nothing of the host reaches the sandbox: process, require, fetch, the Function constructor', async () => {
  const probe = [
    "typeof process === 'undefined'",
    "typeof require === 'undefined'",
    "typeof fetch === 'undefined'",
    "typeof globalThis.process === 'undefined'",
    "typeof Function('return this')().process === 'undefined'",
    "(function(){ try { return typeof (0, eval)('this.constructor.constructor(\"return process\")')() === 'undefined'; } catch (e) { return true; } })()",
    "typeof setTimeout === 'undefined'",
  ].join(' && ');
  const image = await render(`{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:(ctx) => (${probe}) ? 'rgb(255,0,0)' : 'rgb(0,0,255)'}]},options:{legend:{display:false}}}`, { version: '4' });
  assert.ok(countColourPixels(image, RED, 30) > 1000, 'every probe found nothing');
  assert.equal(countColourPixels(image, BLUE, 30), 0);
});

test('hostile scripts get coded 400s: an endless loop, a memory bomb, a thrown error, too many calls', async () => {
  assert.equal((await refusal("{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:function(){ while (true) {} }}}]}}}")).code, 'SCRIPT_TIMEOUT');
  assert.equal((await refusal("{type:'bar',data:{datasets:[{data:[(function(){ while (true) {} })()]}]}}")).code, 'SCRIPT_TIMEOUT');
  // Memory, not time, is what this one runs out of: the clock is taken out of the race on a loaded machine (it takes ~0.7 s of the default 1 s).
  assert.equal((await refusal("{type:'bar',data:{datasets:[{data:[(function(){ var a = []; while (true) a.push({ x: a.length, y: [1, 2, 3] }); })()]}]}}", { ...DEFAULT_LIMITS, maxScriptTimeMs: 20_000 })).code, 'SCRIPT_OUT_OF_MEMORY');
  const thrown = await refusal("{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:function(){ throw new RangeError('nope'); }}]}}");
  assert.equal(thrown.code, 'SCRIPT_ERROR');
  assert.match(thrown.message, /RangeError: nope/);
  const many = await refusal("{type:'bar',data:{labels:[1,2,3,4,5,6,7,8,9,10],datasets:[{data:[1,2,3,4,5,6,7,8,9,10],backgroundColor:(ctx) => 'red'}]}}", { ...DEFAULT_LIMITS, maxScriptCalls: 5 });
  assert.equal(many.code, 'SCRIPT_TOO_MANY_CALLS');
  assert.equal(countLiveCharts(), 0);
  assert.equal(liveScriptSessions(), 0, 'every sandbox was disposed');
});

test('a loop of large strings stops at the engine\'s memory bound, and the grown engine is replaced', async () => {
  // QuickJS polls for an interrupt every ~10,000 calls: ~3,000 turns of this loop, 3 GiB of strings, pass between two heap walks.
  const bomb = "{type:'bar',data:{datasets:[{data:[(function(){ var a = []; while (true) a.push('x'.repeat(1 << 20) + a.length); })()]}]}}";
  await loadScriptEngine();
  const replacements = scriptEngineReplacements();
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  assert.equal((await refusal(bomb, { ...DEFAULT_LIMITS, maxScriptTimeMs: 60_000 })).code, 'SCRIPT_OUT_OF_MEMORY');
  const peakGrowth = process.resourceUsage().maxRSS * 1024 - peakBefore;
  assert.ok(peakGrowth < ENGINE_MEMORY_MAX_BYTES + 64 * 1024 * 1024, `the process's peak grew ${Math.round(peakGrowth / 1024 / 1024)} MiB`);
  assert.equal(scriptEngineReplacements(), replacements + 1, 'the engine that grew was retired');
  assert.equal(liveScriptSessions(), 0);
  // The next config with a script gets a fresh engine of the initial size and renders.
  const image = await render("{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:() => 'rgb(255,0,0)'}]}}");
  assert.ok(countColourPixels(image, RED, 30) > 300);
  assert.ok(scriptEngineMemoryBytes() <= ENGINE_MEMORY_RETIRE_BYTES, `the new engine holds ${scriptEngineMemoryBytes()} bytes`);
});

test('scripts off: a function is CONFIG_FUNCTION, and no sandbox is made', async () => {
  const error = await refusal("{type:'bar',data:{datasets:[{data:[1]}]},options:{onClick:function(){}}}", { ...DEFAULT_LIMITS, allowScripts: false });
  assert.equal(error.code, 'CONFIG_FUNCTION');
  assert.equal(liveScriptSessions(), 0);
});

test('a job made with a sandbox and sent to the pool is evaluated again in the worker', async (t) => {
  await loadScriptEngine();
  const pool = createRenderPool({ workers: 1 });
  t.after(() => pool.close());
  const job = createRenderJob({ chart: "{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:(c) => c.dataIndex === 0 ? 'rgb(255,0,0)' : 'black'}]}}", version: '4', width: 200, height: 100, devicePixelRatio: 1 });
  assert.equal(liveScriptSessions(), 1);
  const { body } = await pool.run(job);
  assert.equal(liveScriptSessions(), 0, 'the local sandbox was released');
  assert.ok(countColourPixels(await decodeImage(body), RED, 30) > 500);
});

test('sandboxes do not leak: 1,500 renders with callbacks keep the heap flat and dispose every sandbox', { timeout: 300_000 }, async () => {
  const chart = "{type:'bar',data:{labels:['a','b','c','d'],datasets:[{data:[1,2,3,4],backgroundColor:(c) => c.dataIndex % 2 ? 'red' : 'blue'}]},options:{plugins:{datalabels:{display:true,formatter:(v) => v + '%'}},scales:{y:{ticks:{callback:(v) => '$' + v}}}}}";
  const samples: Array<[number, number]> = [];
  for (let i = 1; i <= 1500; i++) {
    await renderChart({ chart, version: '4', width: 200, height: 120, devicePixelRatio: 1 });
    if (i % 100 === 0) samples.push([i, (await sampleMemory(i)).heapUsedBytes]);
  }
  assert.equal(liveScriptSessions(), 0);
  const kbPerRender = slope(samples.slice(samples.length / 2)) / 1024;
  assert.ok(kbPerRender < 5, `heap grows ${kbPerRender.toFixed(2)} KB per render: ${samples.map(([, heap]) => Math.round(heap / 1e6)).join(', ')} MB`);
});
