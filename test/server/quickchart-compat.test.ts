import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countColourPixels, countDrawnPixels, decodeImage, differingFraction, pixelAt, type DecodedImage } from '../helpers/images.js';
import { assertErrorReply, fetchReply, postJson, type Reply } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';

/**
 * QuickChart configs over real HTTP: JavaScript callbacks of the common shapes
 * (their effect checked in the pixels), hostile scripts (coded 400s, and the
 * service keeps answering), QuickChart's helpers, chart types and tickFormat.
 */

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const WHITE: [number, number, number] = [255, 255, 255];

/** Dark pixels in a horizontal band: where axis labels are drawn. */
function inkInRows(image: DecodedImage, from: number, to: number): number {
  let count = 0;
  for (let y = Math.max(0, from); y < Math.min(image.height, to); y++) {
    for (let x = 0; x < image.width; x++) if (pixelAt(image, x, y)[3] > 100) count++;
  }
  return count;
}

test('QuickChart configs with JavaScript, over HTTP', async (t) => {
  const service = await startTestService({ workers: 2 });
  t.after(() => service.close());
  const render = (chart: unknown, extra: Record<string, unknown> = {}) =>
    postJson(`${service.url}/chart`, { chart, width: 300, height: 200, devicePixelRatio: 1, ...extra });
  const image = async (reply: Reply): Promise<DecodedImage> => {
    assert.equal(reply.status, 200, reply.body.subarray(0, 400).toString());
    return decodeImage(reply.body);
  };

  await t.test('a tick formatter adds a currency sign; one returning "" leaves the axis bare', async () => {
    const chart = (callback: string) => `{type:'bar',data:{labels:['a','b'],datasets:[{data:[1000,2000]}]},options:{legend:{display:false},scales:{yAxes:[{ticks:{callback:${callback}}}]}}}`;
    const dollars = await image(await render(chart("function(value) { return '$' + value.toLocaleString(); }")));
    const plain = await image(await render(chart('function(value) { return value; }')));
    const blank = await image(await render(chart("function() { return ''; }")));
    assert.ok(differingFraction(dollars, plain) > 0.001, 'the labels changed');
    const leftInk = (drawn: DecodedImage) => {
      let count = 0;
      for (let y = 0; y < drawn.height; y++) for (let x = 0; x < 40; x++) if (pixelAt(drawn, x, y)[3] > 100) count++;
      return count;
    };
    assert.ok(leftInk(dollars) > leftInk(plain) && leftInk(plain) > leftInk(blank), `${leftInk(dollars)} > ${leftInk(plain)} > ${leftInk(blank)}`);
  });

  await t.test('a datalabels formatter shows percentages of the dataset total', async () => {
    const chart = (formatter: string) =>
      `{type:'doughnut',data:{labels:['a','b'],datasets:[{data:[1,3],backgroundColor:['rgb(0,0,255)','rgb(0,0,255)']}]},options:{legend:{display:false},plugins:{datalabels:{color:'rgb(255,0,0)',font:{size:24},formatter:${formatter}}}}}`;
    const percent = await image(await render(chart("(value, ctx) => { let sum = 0; ctx.chart.data.datasets[0].data.forEach((v) => { sum += v; }); return (value * 100 / sum).toFixed(0) + '%'; }")));
    const none = await image(await render(chart("() => ''")));
    assert.ok(countColourPixels(percent, RED, 60) > 100, 'red labels drawn');
    assert.equal(countColourPixels(none, RED, 60), 0);
  });

  await t.test('a scriptable colour on Chart.js 4 picks each bar its colour from context.raw', async () => {
    const reply = await render("{type:'bar',data:{labels:['a','b','c'],datasets:[{data:[3,-2,1],backgroundColor:(ctx) => ctx.raw < 0 ? 'rgb(255,0,0)' : 'rgb(0,0,255)'}]}}", { version: '4' });
    const drawn = await image(reply);
    assert.ok(countColourPixels(drawn, RED, 20) > 500 && countColourPixels(drawn, BLUE, 20) > 1000, 'one red bar, two blue');
  });

  await t.test('every other label with this.getLabelForValue on Chart.js 3', async () => {
    const chart = (callback: string) => `{type:'bar',data:{labels:['Jan','Feb','Mar','Apr','May','Jun'],datasets:[{data:[1,2,3,4,5,6]}]},options:{plugins:{legend:{display:false}},scales:{x:{ticks:{callback:${callback}}}}}}`;
    const [every, all] = await Promise.all([
      render(chart("function(val, index) { return index % 2 === 0 ? this.getLabelForValue(val) : ''; }"), { version: '3' }).then(image),
      render(chart('function(val) { return this.getLabelForValue(val); }'), { version: '3' }).then(image),
    ]);
    const bottomInk = (drawn: DecodedImage) => inkInRows(drawn, drawn.height - 20, drawn.height);
    assert.ok(bottomInk(every) > 0 && bottomInk(every) < bottomInk(all) * 0.75, `${bottomInk(every)} < ${bottomInk(all)}`);
  });

  await t.test('the ETag follows the function body, so a changed callback is never served stale', async () => {
    const chart = (suffix: string) => `{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:(v) => v + '${suffix}'}}]}}}`;
    const [a, b, again] = await Promise.all([render(chart('%')), render(chart('‰')), render(chart('%'))]);
    assert.notEqual(a.headers.get('etag'), b.headers.get('etag'));
    assert.equal(a.headers.get('etag'), again.headers.get('etag'));
  });

  await t.test('nothing escapes the sandbox: process, require, globalThis, the Function constructor, timers', async () => {
    const probes = [
      "typeof process === 'undefined'",
      "typeof require === 'undefined'",
      "typeof module === 'undefined'",
      "typeof globalThis.process === 'undefined'",
      "typeof Function('return this')().process === 'undefined'",
      "typeof (() => {}).constructor('return typeof process')() === 'string' && (() => {}).constructor('return typeof process')() === 'undefined'",
      "typeof this === 'undefined' || typeof this.process === 'undefined'",
      "typeof setTimeout === 'undefined' && typeof fetch === 'undefined' && typeof XMLHttpRequest === 'undefined'",
      "typeof Chart === 'undefined' || typeof Chart.instances === 'undefined' || Object.keys(Chart.instances).length === 0",
    ];
    for (const probe of probes) {
      const reply = await render(`{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:(ctx) => (${probe}) ? 'rgb(255,0,0)' : 'rgb(0,0,255)'}]},options:{legend:{display:false}}}`, { version: '4' });
      const drawn = await image(reply);
      assert.ok(countColourPixels(drawn, RED, 20) > 1_000 && countColourPixels(drawn, BLUE, 20) === 0, probe);
    }
    // What a config evaluates to is data: a getter or a prototype trick does not run in the host.
    const tricky = await render("{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{get plugins() { return { title: { display: true, text: 'x' } }; }, __proto__: { polluted: true }}}");
    assert.equal(tricky.status, 200, tricky.body.toString().slice(0, 300));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  await t.test('hostile scripts are coded 400s, and the service keeps answering others meanwhile', async () => {
    const loop = render("{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:function(){ for (;;) {} }}}]}}}");
    const topLevelLoop = render("{type:'bar',data:{datasets:[{data:[(() => { while (true) {} })()]}]}}");
    // While both workers may be busy looping, health answers and a plain chart still renders.
    const health = await fetchReply(`${service.url}/healthz`);
    assert.equal(health.status, 200);
    const plain = render({ type: 'bar', data: { labels: ['a'], datasets: [{ data: [1] }] } });
    assertErrorReply(await loop, 400, 'SCRIPT_TIMEOUT', 'an endless loop in a callback');
    assertErrorReply(await topLevelLoop, 400, 'SCRIPT_TIMEOUT', 'an endless loop in the config');
    assert.equal((await plain).status, 200);
    const cases: Array<[string, string, RegExp]> = [
      ["{type:'bar',data:{datasets:[{data:(() => { const a = []; for (;;) a.push('x'.repeat(1000)); })()}]}}", 'SCRIPT_OUT_OF_MEMORY', /MiB/],
      ["{type:'bar',data:{datasets:[{data:(() => { const a = []; for (;;) a.push(new Array(1000).fill(0)); })()}]}}", 'SCRIPT_OUT_OF_MEMORY', /MiB/],
      ["{type:'bar',data:{datasets:[{data:[new Array(1e8).fill(0).length]}]}}", 'SCRIPT_OUT_OF_MEMORY', /MiB/],
      ["{type:'bar',data:{datasets:[{data:(() => { let s = 'x'; for (;;) s += s; })()}]}}", 'SCRIPT_ERROR', /string too long/],
      ["{type:'bar',data:{datasets:[{data:[1],backgroundColor:() => { throw new Error('boom'); }}]}}", 'SCRIPT_ERROR', /boom/],
      ["{type:'bar',data:{datasets:[{data:[require('fs').readFileSync('/etc/passwd')]}]}}", 'SCRIPT_ERROR', /require/],
      ["{type:'bar',data:{datasets:[{data:[process.exit(1)]}]}}", 'SCRIPT_ERROR', /process/],
      ["{type:'bar',data:{datasets:[{data:[1]}]}} + (function f(){ return f(); })()", 'SCRIPT_STACK_OVERFLOW', /stack overflow/],
      ["{type:'bar',data:{datasets:[{data:[1],backgroundColor:() => { const f = (n) => [n].map(() => f(n + 1)); return f(0); }}]}}", 'SCRIPT_STACK_OVERFLOW', /callback/],
      // Deep enough to overflow V8's own stack inside the engine, not just QuickJS's.
      ["{type:'bar',data:{datasets:[{data:[(() => { let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return JSON.stringify(o).length; })()]}]}}", 'SCRIPT_STACK_OVERFLOW', /stack overflow/],
      [`{type:'bar',data:{datasets:[{data:${'['.repeat(20_000)}${']'.repeat(20_000)}}]}}`, 'CONFIG_TOO_DEEP', /nested deeper than 32/],
      [`{type:'bar',data:{datasets:[{backgroundColor:() => 'red',data:${'['.repeat(20_000)}${']'.repeat(20_000)}}]}}`, 'CONFIG_TOO_DEEP', /nests brackets more than 128/],
    ];
    for (const [chart, code, message] of cases) {
      const reply = await render(chart);
      assertErrorReply(reply, 400, code, chart.slice(0, 60));
      assert.match(JSON.parse(reply.body.toString()).message as string, message);
    }
    // Every worker still runs callbacks after all that (an engine a stack overflow broke was replaced).
    for (let i = 0; i < 4; i++) {
      const drawn = await image(await render("{type:'bar',data:{labels:['a'],datasets:[{data:[1],backgroundColor:() => 'rgb(255,0,0)'}]}}"));
      assert.ok(countColourPixels(drawn, RED, 20) > 1_000);
    }
    const restarts = service.pool.stats().restarts;
    assert.equal(restarts.crash, 0, 'no worker died');
    const resources = (await (await fetch(`${service.adminUrl}/debug/resources`)).json()) as { workers: Array<{ liveSandboxes: number; liveCharts: number }> };
    assert.deepEqual(resources.workers.map((worker) => [worker.liveSandboxes, worker.liveCharts]), resources.workers.map(() => [0, 0]), 'every sandbox and chart released');
  });

  await t.test("QuickChart's helpers: getGradientFillHelper, getGradientFill and pattern.draw", async () => {
    const vertical = await image(await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:getGradientFillHelper('vertical',['rgb(255,0,0)','rgb(0,0,255)'])}]},options:{legend:{display:false},scales:{yAxes:[{ticks:{beginAtZero:true}}]}}}"));
    const top = pixelAt(vertical, 150, 30);
    const bottom = pixelAt(vertical, 150, vertical.height - 40);
    assert.ok(top[0] > top[2] && bottom[2] > bottom[0], `red at the top (${top.join()}), blue at the bottom (${bottom.join()})`);
    const stops = await image(await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:getGradientFill([{offset:0,color:'rgb(255,0,0)'},{offset:1,color:'rgb(0,0,255)'}],[0,0,0,200])}]},options:{legend:{display:false},scales:{yAxes:[{ticks:{beginAtZero:true}}]}}}"));
    assert.ok(differingFraction(stops, vertical) < 0.2, 'getGradientFill with colour stops draws a gradient too');
    const striped = await image(await render("{type:'bar',data:{labels:['a'],datasets:[{data:[10],backgroundColor:pattern.draw('diagonal','rgb(0,0,255)','rgb(255,255,255)',10)}]},options:{legend:{display:false}}}"));
    assert.ok(countColourPixels(striped, BLUE, 40) > 500 && countColourPixels(striped, WHITE, 20) > 1_000, 'stripes of both colours');
  });

  await t.test("QuickChart's chart types: sparkline, progressBar, donut, gauge, radialGauge, sankey", async () => {
    const sparkline = await image(await render({ type: 'sparkline', data: { datasets: [{ data: [1, 5, 2, 8, 3], borderColor: 'rgb(255,0,0)' }] } }));
    assert.ok(countColourPixels(sparkline, RED, 40) > 100, 'the line');
    const line = await image(await render({ type: 'line', data: { labels: [1, 2, 3, 4, 5], datasets: [{ data: [1, 5, 2, 8, 3], borderColor: 'rgb(255,0,0)' }] } }));
    // Tick labels and the legend are drawn in Chart.js's grey (#666).
    const grey = (drawn: DecodedImage) => countColourPixels(drawn, [102, 102, 102], 10);
    assert.ok(grey(line) > 100 && grey(sparkline) === 0, `a line chart has labels (${grey(line)}), a sparkline none (${grey(sparkline)})`);
    const progress = await image(await render({ type: 'progressBar', data: { datasets: [{ data: [60], backgroundColor: 'rgb(0,0,255)' }] } }));
    const progressTwo = await image(await render({ type: 'progressBar', data: { datasets: [{ data: [30], backgroundColor: 'rgb(0,0,255)' }, { data: [120] }] } }));
    const blueShare = (drawn: DecodedImage) => countColourPixels(drawn, BLUE, 30);
    assert.ok(blueShare(progress) > blueShare(progressTwo) * 2, `60 % fills more than 30 of 120 (${blueShare(progress)} vs ${blueShare(progressTwo)})`);
    const donut = await image(await render({ type: 'doughnut', data: { datasets: [{ data: [1, 1], backgroundColor: ['rgb(255,0,0)', 'rgb(0,0,255)'] }] } }));
    assert.ok(pixelAt(donut, 150, 100)[3] < 50, 'a doughnut has a hole');
    const gauge = await image(await render({ type: 'gauge', data: { datasets: [{ value: 50, data: [20, 40, 60], backgroundColor: ['rgb(0,255,0)', 'rgb(255,255,0)', 'rgb(255,0,0)'] }] } }));
    assert.ok(countColourPixels(gauge, RED, 30) > 300 && countColourPixels(gauge, [0, 255, 0], 30) > 300, 'the gauge arcs');
    const radial = await image(await render({ type: 'radialGauge', data: { datasets: [{ data: [70], backgroundColor: 'rgb(0,0,255)' }] } }));
    assert.ok(countColourPixels(radial, BLUE, 30) > 500);
    const sankey = await image(
      await render(
        { type: 'sankey', data: { datasets: [{ data: [{ from: 'a', to: 'b', flow: 10 }, { from: 'a', to: 'c', flow: 5 }], colorFrom: 'rgb(255,0,0)', colorTo: 'rgb(0,0,255)' }] } },
        { version: '4' },
      ),
    );
    assert.ok(countDrawnPixels(sankey) > 2_000, 'the flows');
  });

  await t.test('plugins.tickFormat formats ticks without code, as the equivalent callback does', async () => {
    const chart = (options: string) => `{type:'bar',data:{labels:['a','b'],datasets:[{data:[1200,3400]}]},options:{legend:{display:false},${options}}}`;
    const declarative = await image(await render(chart("scales:{yAxes:[{ticks:{beginAtZero:true}}]},plugins:{tickFormat:{prefix:'$',suffix:'k',minimumFractionDigits:1}}")));
    const callback = await image(await render(chart("scales:{yAxes:[{ticks:{beginAtZero:true,callback:(v) => '$' + v.toLocaleString('en-US',{minimumFractionDigits:1}) + 'k'}}]}")));
    const plain = await image(await render(chart('plugins:{}')));
    assert.ok(differingFraction(declarative, plain) > 0.001, 'tickFormat changed the labels');
    assert.ok(differingFraction(declarative, callback) < 0.0005, `tickFormat draws what the callback draws (${differingFraction(declarative, callback)})`);
    const v4 = await image(await render(chart("plugins:{tickFormat:{style:'percent'}}"), { version: '4' }));
    assert.ok(differingFraction(v4, await image(await render(chart('plugins:{}'), { version: '4' }))) > 0.001, 'on Chart.js 4 too');
  });

  await t.test('sizes with units, configs with no data and datasets that carry their type', async () => {
    const sized = await image(await fetchReply(`${service.url}/chart?w=320px&h=180px&devicePixelRatio=1&c=${encodeURIComponent("{type:'bar',data:{datasets:[{data:[1]}]}}")}`));
    assert.deepEqual([sized.width, sized.height], [320, 180]);
    assert.equal((await render({ type: 'bar' })).status, 200, 'no data: an empty chart, as Chart.js draws it');
    const mixed = await image(await render({ data: { labels: ['a', 'b'], datasets: [{ type: 'bar', data: [1, 2], backgroundColor: 'rgb(0,0,255)' }, { type: 'line', data: [2, 1], borderColor: 'rgb(255,0,0)' }] } }));
    assert.ok(countColourPixels(mixed, BLUE, 30) > 500 && countColourPixels(mixed, RED, 40) > 50, 'bars and a line');
  });
});

test('with --scripts off a function is refused as CONFIG_FUNCTION, and JSON renders as before', async (t) => {
  const service = await startTestService({ workers: 1, scripts: 'off' });
  t.after(() => service.close());
  const refused = await postJson(`${service.url}/chart`, { chart: "{type:'bar',data:{datasets:[{data:[1]}]},options:{onClick:function(){}}}" });
  assertErrorReply(refused, 400, 'CONFIG_FUNCTION');
  assert.match(JSON.parse(refused.body.toString()).message as string, /line 1 column \d+ \(property "onClick"\)/);
  assert.equal((await postJson(`${service.url}/chart`, { chart: { type: 'bar', data: { datasets: [{ data: [1] }] } } })).status, 200);
  // Google Image Charts' own label functions still run: the code is chartd's.
  assert.equal((await fetchReply(`${service.url}/chart?cht=p&chs=200x100&chd=t:1,2&chl=a|b`)).status, 200);
});
