import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSeriesData } from '../../src/render/gchart/series-data.js';
import { countColourPixels, decodeImage, differingFraction, pixelAt, type DecodedImage } from '../helpers/images.js';
import { decodeQr } from '../helpers/qr.js';
import { assertErrorReply, fetchReply, postJson, type Reply } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';

/**
 * Google Image Charts URLs (GET /chart?cht=... and GET /gchart), converted to
 * Chart.js as QuickChart does: sizes, colours, titles and labels checked in the
 * pixels, QR codes read back with jsQR.
 */

const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const GREEN: [number, number, number] = [0, 255, 0];

test('chd encodings decode as QuickChart reads them', () => {
  assert.deepEqual(parseSeriesData('t:_,30,-30,50,80,200', undefined), [[null, 30, null, 50, 80, 100]]);
  assert.deepEqual(parseSeriesData('t:_,30,-30,50,80,200', 'a'), [[null, 30, -30, 50, 80, 200]]);
  assert.deepEqual(parseSeriesData('t:30,-60,50,140,80,-90', '-80,140'), [[30, -60, 50, 140, 80, null]]);
  assert.deepEqual(parseSeriesData('t:30,-50,141,80,-90|-30,-70,-200,100,0', '-80,140,-150,0'), [
    [30, -50, 140, 80, null],
    [-30, -70, null, 0, 0],
  ]);
  assert.deepEqual(parseSeriesData('s:BTb19_,Mn5tzb', undefined), [
    [1, 19, 27, 53, 61, null],
    [12, 39, 57, 45, 51, 27],
  ]);
  assert.deepEqual(parseSeriesData('e:BaPoqM2s,-A__RMD6', undefined), [
    [90, 1000, 2700, 3500],
    [3968, null, 1100, 250],
  ]);
  assert.deepEqual(parseSeriesData('a:4,5,6|1,2,3', undefined), [
    [4, 5, 6],
    [1, 2, 3],
  ]);
  assert.deepEqual(parseSeriesData('t2:1,2|3,4', 'a'), [
    [1, 2],
    [3, 4],
  ]);
});

test('Google Image Charts URLs', async (t) => {
  const service = await startTestService({ workers: 2 });
  t.after(() => service.close());
  const gchart = (query: string, path = '/chart') => fetchReply(`${service.url}${path}?${query}`);
  const image = async (reply: Reply): Promise<DecodedImage> => {
    assert.equal(reply.status, 200, reply.body.subarray(0, 300).toString());
    assert.equal(reply.headers.get('content-type'), 'image/png');
    return decodeImage(reply.body);
  };

  await t.test("cht=qr URLs written for Google's endpoint work unchanged, on /chart and /gchart", async () => {
    for (const path of ['/chart', '/gchart']) {
      const reply = await gchart('cht=qr&chs=300x300&chl=Hello+world&choe=UTF-8', path);
      const drawn = await image(reply);
      assert.equal(drawn.width, 300);
      assert.equal((await decodeQr(reply.body))?.data, 'Hello world', "Google's URLs write a space as '+'");
    }
    const encoded = await gchart(`cht=qr&chs=200x200&chl=${encodeURIComponent('https://example.com/?q=a+b&x=1')}`);
    assert.equal((await decodeQr(encoded.body))?.data, 'https://example.com/?q=a+b&x=1', 'an encoded plus stays a plus');
    const low = await decodeQr((await gchart('cht=qr&chs=300x300&chl=error+correction+levels+differ')).body);
    const high = await decodeQr((await gchart('cht=qr&chs=300x300&chl=error+correction+levels+differ&chld=H|0')).body);
    assert.ok(high!.version > low!.version, 'chld=H needs a larger symbol than the default L');
    const noMargin = await decodeImage((await gchart('cht=qr&chs=210x210&chl=m&chld=L|0')).body);
    assert.deepEqual(pixelAt(noMargin, 1, 1).slice(0, 3), [0, 0, 0], 'chld margin 0');
    const kanji = await decodeQr((await gchart(`cht=qr&chs=200x200&choe=Shift_JIS&chl=${encodeURIComponent('漢字')}`)).body);
    assert.deepEqual([kanji?.data, kanji?.chunks.map((chunk) => chunk.type)], ['漢字', ['kanji']]);
    assertErrorReply(await gchart('cht=qr&chs=200x200'), 400, 'QR_TEXT_MISSING');
  });

  await t.test('a stacked bar chart: its size, series colours, background and title', async () => {
    const base = 'cht=bvs&chs=400x250&chd=t:10,20,30|30,20,10&chco=ff0000,0000ff';
    const plain = await image(await gchart(base));
    assert.deepEqual([plain.width, plain.height], [400, 250], 'chs, at devicePixelRatio 1');
    assert.ok(countColourPixels(plain, RED, 10) > 3_000 && countColourPixels(plain, BLUE, 10) > 3_000, 'both series in their chco colours');
    assert.deepEqual(pixelAt(plain, 1, 1), [255, 255, 255, 255], 'white by default');
    const green = await image(await gchart(`${base}&chf=bg,s,00ff00`));
    assert.deepEqual(pixelAt(green, 1, 1), [0, 255, 0, 255], 'chf=bg,s,00ff00');
    const transparent = await image(await gchart(`${base}&chf=bg,s,ffffff00`));
    assert.equal(pixelAt(transparent, 1, 1)[3], 0, 'a transparent chf');
    const titled = await image(await gchart(`${base}&chtt=Monthly+sales&chts=00ff00,20`));
    assert.ok(countColourPixels(titled, GREEN, 60) > 100, 'the title is drawn in its chts colour');
    assert.equal(countColourPixels(plain, GREEN, 60), 0);
  });

  await t.test('a pie: slice colours from chco, labels from chl, a legend from chdl', async () => {
    const base = 'cht=p&chs=400x250&chd=t:50,30,20&chco=ff0000,00ff00,0000ff';
    const pie = await image(await gchart(base));
    for (const colour of [RED, GREEN, BLUE]) assert.ok(countColourPixels(pie, colour, 10) > 2_000, `a ${colour.join()} slice`);
    const labelled = await image(await gchart(`${base}&chl=Alpha|Beta|Gamma`));
    assert.ok(differingFraction(pie, labelled) > 0.002, 'chl labels are drawn on the slices');
    const legend = await image(await gchart(`${base}&chdl=Alpha|Beta|Gamma&chdlp=b`));
    // Legend text is grey; the slices are pure colours.
    const greyAtBottom = (drawn: DecodedImage) => {
      let count = 0;
      for (let y = drawn.height - 20; y < drawn.height; y++) {
        for (let x = 0; x < drawn.width; x++) {
          const [r, g, b] = pixelAt(drawn, x, y);
          if (r < 200 && Math.abs(r - g) < 20 && Math.abs(g - b) < 20) count++;
        }
      }
      return count;
    };
    assert.equal(greyAtBottom(pie), 0);
    assert.ok(greyAtBottom(legend) > 50, 'chdlp=b puts the legend at the bottom');
  });

  await t.test('a line chart: axes from chxt, labels from chxl, ranges from chxr, all drawn', async () => {
    const base = 'cht=lc&chs=400x250&chd=t:10,40,30,60,45&chco=0000ff';
    const bare = await image(await gchart(base));
    const axes = await image(await gchart(`${base}&chxt=x,y`));
    const labelled = await image(await gchart(`${base}&chxt=x,y&chxl=0:|Mon|Tue|Wed|Thu|Fri`));
    const ranged = await image(await gchart(`${base}&chxt=x,y&chxr=1,0,200,50`));
    assert.ok(countColourPixels(bare, BLUE, 10) > 300, 'the series');
    assert.ok(differingFraction(bare, axes) > 0.01, 'chxt draws axes');
    assert.ok(differingFraction(axes, labelled) > 0.002, 'chxl relabels the x axis');
    assert.ok(differingFraction(axes, ranged) > 0.01, 'chxr rescales the y axis');
  });

  await t.test('format=chartjs-config returns the converted config, which /chart draws the same', async () => {
    const query = 'cht=bvg&chs=300x200&chd=t:5,10,15&chco=ff0000&chxt=y&chf=bg,s,ffffff';
    const config = await gchart(`${query}&format=chartjs-config`);
    assert.equal(config.status, 200);
    assert.equal(config.headers.get('content-type'), 'application/json');
    const parsed = JSON.parse(config.body.toString('utf8')) as { type: string; data: { datasets: Array<{ data: number[] }> } };
    assert.equal(parsed.type, 'bar');
    assert.deepEqual(parsed.data.datasets[0]!.data, [5, 10, 15]);
    const viaGoogle = await gchart(query);
    const viaChart = await postJson(`${service.url}/chart`, { chart: parsed, width: 300, height: 200, devicePixelRatio: 1, backgroundColor: '#ffffff', version: '2' });
    assert.equal(viaChart.headers.get('etag'), viaGoogle.headers.get('etag'), 'the same job');
    assert.ok(viaChart.body.equals(viaGoogle.body));
    // With labels the config has functions: JavaScript text, which /chart runs in its sandbox.
    const withLabels = await gchart(`${query}&chl=a|b|c&format=chartjs-config`);
    assert.match(withLabels.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(withLabels.body.toString('utf8'), /"formatter": function \(value, context\)/);
    const drawn = await postJson(`${service.url}/chart`, { chart: withLabels.body.toString('utf8'), width: 300, height: 200, devicePixelRatio: 1, backgroundColor: '#ffffff' });
    assert.ok(differingFraction(await image(drawn), await image(await gchart(`${query}&chl=a|b|c`))) < 0.001);
  });

  await t.test('every encoding of the same values draws the same chart', async () => {
    const etags = await Promise.all(['chd=t:0,25,61&chds=a', 'chd=s:AZ9', 'chd=a:0,25,61', 'chd=e:AAAZA9'].map(async (chd) => (await gchart(`cht=bvg&chs=200x100&${chd}`)).headers.get('etag')));
    assert.equal(new Set(etags).size, 1, etags.join(' '));
  });

  await t.test('a request that names what a Google chart cannot be is a coded 400', async () => {
    const cases: Array<[string, number, string]> = [
      ['cht=bvs', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=x:1,2', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=t:1,nope', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=s:A!', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=e:AAA', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=t:1,2&chco=notacolour', 400, 'GCHART_INVALID'],
      ['cht=bvs&chd=t:1,2&chds=1', 400, 'GCHART_INVALID'],
      ['cht=nope&chd=t:1', 400, 'CHART_TYPE_UNKNOWN'],
      ['cht=constructor&chd=t:1', 400, 'CHART_TYPE_UNKNOWN'],
      ['cht=__proto__&chd=t:1', 400, 'CHART_TYPE_UNKNOWN'],
      ['cht=bvs&chd=t:1,2&chs=big', 400, 'PARAM_INVALID'],
      ['cht=bvs&chd=t:1,2&chs=9000x9000', 413, 'IMAGE_TOO_LARGE'],
      ['cht=bvs&chd=t:1,2&chof=gif', 400, 'FORMAT_UNSUPPORTED'],
      ['cht=lc&chd=t:1,2&chxt=y&chxr=0,0,1,0.000001', 400, 'CONFIG_TOO_MANY_TICKS'],
    ];
    for (const [query, status, code] of cases) {
      assertErrorReply(await gchart(query), status, code, query);
      assertErrorReply(await gchart(query, '/gchart'), status, code, `/gchart?${query}`);
    }
    assertErrorReply(await gchart('chd=t:1', '/gchart'), 400, 'GCHART_INVALID', 'no cht');
  });

  await t.test('Google chart renders are counted per route', async () => {
    const metrics = await (await fetch(`${service.adminUrl}/metrics`)).text();
    assert.match(metrics, /chartd_requests_total\{route="\/gchart",method="GET",status="200"\} [1-9]/);
    assert.match(metrics, /chartd_render_duration_seconds_count\{engine="chartjs2",format="chartjs-config"\} [1-9]/);
  });
});
