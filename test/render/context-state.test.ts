import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { createRenderJob, renderJob } from '../../src/index.js';
import { rasterTextMetrics, TEXT_METRICS_MAX_ENTRIES, TEXT_METRICS_MAX_TEXT_LENGTH, TextMetricsTable, trackContextState } from '../../src/render/context-state.js';
import { registerBundledFonts } from '../../src/render/fonts.js';

registerBundledFonts();

function trackedCanvas(table = new TextMetricsTable(), size = 40) {
  const canvas = createCanvas(size, size);
  const ctx = canvas.getContext('2d');
  trackContextState(ctx, canvas, table);
  return { canvas, ctx, table };
}

function pixelAt(ctx: SKRSContext2D, x: number, y: number): number[] {
  return [...ctx.getImageData(x, y, 1, 1).data];
}

const RED = [255, 0, 0, 255];
const BLUE = [0, 0, 255, 255];

/** What an untouched Skia context measures in the same state. */
function nativeMetrics(state: Partial<Record<'font' | 'textAlign' | 'textBaseline' | 'letterSpacing', string>>, text: string): Record<string, number> {
  const ctx = createCanvas(10, 10).getContext('2d') as unknown as Record<string, unknown> & SKRSContext2D;
  for (const [key, value] of Object.entries(state)) ctx[key] = value;
  return plain(ctx.measureText(text));
}

function plain(metrics: object): Record<string, number> {
  const fields = ['width', 'actualBoundingBoxLeft', 'actualBoundingBoxRight', 'actualBoundingBoxAscent', 'actualBoundingBoxDescent', 'fontBoundingBoxAscent', 'fontBoundingBoxDescent', 'alphabeticBaseline', 'hangingBaseline', 'ideographicBaseline'];
  return Object.fromEntries(fields.map((field) => [field, (metrics as Record<string, number>)[field]!]));
}

describe('context state tracking', () => {
  test("a style set again after restore() takes effect: restore brings back the saved value, not the last one set", () => {
    const { ctx } = trackedCanvas();
    ctx.fillStyle = 'red';
    ctx.save();
    ctx.fillStyle = 'blue';
    ctx.fillRect(0, 0, 10, 10);
    ctx.restore();
    ctx.fillRect(10, 0, 10, 10);
    ctx.fillStyle = 'blue';
    ctx.fillRect(20, 0, 10, 10);
    assert.deepEqual([pixelAt(ctx, 5, 5), pixelAt(ctx, 15, 5), pixelAt(ctx, 25, 5)], [BLUE, RED, BLUE]);
  });

  test('a restore() with nothing saved changes nothing, here or in Skia', () => {
    const { ctx } = trackedCanvas();
    ctx.fillStyle = 'blue';
    ctx.restore();
    ctx.fillStyle = 'blue';
    ctx.fillRect(0, 0, 10, 10);
    assert.deepEqual(pixelAt(ctx, 5, 5), BLUE);
  });

  test('a resize and reset() return the context to its defaults, and the same style set again is applied', () => {
    const { canvas, ctx } = trackedCanvas();
    ctx.fillStyle = 'red';
    canvas.width = 40; // resets the state: fillStyle is black again
    ctx.fillStyle = 'red';
    ctx.fillRect(0, 0, 10, 10);
    assert.deepEqual(pixelAt(ctx, 5, 5), RED);
    ctx.fillStyle = 'blue';
    ctx.save();
    ctx.reset();
    ctx.fillStyle = 'blue';
    ctx.fillRect(0, 0, 10, 10);
    assert.deepEqual(pixelAt(ctx, 5, 5), BLUE);
  });

  test('a value Skia rejects keeps the previous one, and a gradient set between equal strings does not hide the second', () => {
    const { ctx } = trackedCanvas();
    ctx.fillStyle = 'red';
    ctx.fillStyle = 'not a colour';
    ctx.fillRect(0, 0, 10, 10);
    const gradient = ctx.createLinearGradient(0, 0, 40, 0);
    gradient.addColorStop(0, 'lime');
    gradient.addColorStop(1, 'lime');
    ctx.fillStyle = 'blue';
    ctx.fillStyle = gradient;
    ctx.fillStyle = 'blue';
    ctx.fillRect(10, 0, 10, 10);
    assert.deepEqual([pixelAt(ctx, 5, 5), pixelAt(ctx, 15, 5)], [RED, BLUE]);
  });

  test('measurements equal what an untouched context measures, across fonts, alignments and baselines, on a hit as on a miss', () => {
    const { ctx, table } = trackedCanvas();
    const states = [
      { font: '12px sans-serif', textAlign: 'left', textBaseline: 'alphabetic' },
      { font: 'bold 20px "Noto Sans"', textAlign: 'center', textBaseline: 'middle' },
      { font: 'italic 9px serif', textAlign: 'right', textBaseline: 'top' },
      { font: '30px "Noto Sans SC"', textAlign: 'end', textBaseline: 'bottom' },
    ] as const;
    for (const round of [1, 2]) {
      for (const state of states) {
        Object.assign(ctx, state);
        for (const text of ['1999', 'Ag', 'series 0', '日本語', '']) {
          assert.deepEqual(plain(ctx.measureText(text)), nativeMetrics(state, text), `round ${round}, ${JSON.stringify(state)} ${text}`);
        }
      }
    }
    assert.ok(table.hits >= 20, `the second round was answered from the table (${table.hits} hits)`);
  });

  test('numbers are measured as the strings they print as', () => {
    const { ctx } = trackedCanvas();
    ctx.font = '14px sans-serif';
    assert.equal(ctx.measureText(1234 as unknown as string).width, nativeMetrics({ font: '14px sans-serif' }, '1234').width);
  });

  test('the key is the font Skia holds: a font Skia rejected is not taken for the one another context set', () => {
    const table = new TextMetricsTable();
    const first = trackedCanvas(table).ctx;
    first.font = '30px sans-serif';
    first.font = 'no such font syntax';
    assert.equal(first.measureText('W').width, nativeMetrics({ font: '30px sans-serif' }, 'W').width);
    const second = trackedCanvas(table).ctx;
    second.font = 'no such font syntax';
    assert.equal(second.measureText('W').width, nativeMetrics({}, 'W').width);
  });

  test('a font set inside save()/restore() is measured inside and forgotten after', () => {
    const { ctx } = trackedCanvas();
    ctx.font = '10px sans-serif';
    const before = ctx.measureText('measure me').width;
    ctx.save();
    ctx.font = '40px sans-serif';
    assert.equal(ctx.measureText('measure me').width, nativeMetrics({ font: '40px sans-serif' }, 'measure me').width);
    ctx.restore();
    assert.equal(ctx.measureText('measure me').width, before);
    assert.equal(before, nativeMetrics({ font: '10px sans-serif' }, 'measure me').width);
  });

  test('spacing is not in the key, so a context with letterSpacing set measures natively until it is reset', () => {
    const { canvas, ctx, table } = trackedCanvas();
    ctx.font = '16px sans-serif';
    const plainWidth = ctx.measureText('spaced').width;
    ctx.letterSpacing = '6px';
    const spaced = ctx.measureText('spaced').width;
    assert.equal(spaced, nativeMetrics({ font: '16px sans-serif', letterSpacing: '6px' }, 'spaced').width);
    assert.ok(spaced > plainWidth + 20, `letterSpacing widened the text (${plainWidth} -> ${spaced})`);
    canvas.width = 40;
    ctx.font = '16px sans-serif';
    const hits = table.hits;
    assert.equal(ctx.measureText('spaced').width, plainWidth);
    assert.equal(table.hits, hits + 1, 'after the reset the table answers again');
  });

  test('the table is bounded in entries and keeps no long texts', () => {
    const { ctx, table } = trackedCanvas();
    ctx.font = '11px sans-serif';
    for (let i = 0; i < TEXT_METRICS_MAX_ENTRIES + 1500; i++) ctx.measureText(`label ${i}`);
    assert.ok(table.size <= TEXT_METRICS_MAX_ENTRIES, `${table.size} entries`);
    assert.ok(table.size > 0);
    table.clear();
    const long = 'x'.repeat(TEXT_METRICS_MAX_TEXT_LENGTH + 1);
    ctx.measureText(long);
    ctx.measureText(long);
    assert.equal(table.size, 0);
  });

  test('a measurement from the table cannot be changed by the code that got it', () => {
    const { ctx } = trackedCanvas();
    ctx.font = '12px sans-serif';
    const metrics = ctx.measureText('shared') as unknown as Record<string, unknown>;
    assert.throws(() => {
      metrics.width = 0;
    }, TypeError);
    assert.throws(() => {
      metrics.stash = 'from another render';
    }, TypeError);
    assert.equal((ctx.measureText('shared') as unknown as Record<string, unknown>).stash, undefined);
  });

  test("a chart's tick labels measured in one render are not measured again in the next", async () => {
    const labels = Array.from({ length: 400 }, (_, i) => `t${i}`);
    const request = (run: number) => ({
      width: 600,
      height: 300,
      chart: { type: 'line', data: { labels, datasets: [{ label: `run ${run}`, data: labels.map((_, i) => i % 17), pointRadius: 0 }] } },
    });
    await renderJob(createRenderJob(request(0)));
    const { hits, misses } = rasterTextMetrics;
    await renderJob(createRenderJob(request(1)));
    const lookups = rasterTextMetrics.hits + rasterTextMetrics.misses - hits - misses;
    assert.ok(lookups >= labels.length, `${lookups} measurements in the second render`);
    assert.ok(rasterTextMetrics.misses - misses <= 5, `${rasterTextMetrics.misses - misses} of ${lookups} measured natively`);
  });
});
