import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { test } from 'node:test';
import { ChartdError, renderChart, type RenderEvent, type RenderStartEvent } from '../../src/index.js';

/** The channels a library caller traces in-process renders with (docs/API.md, "Library"). */

test('an in-process render publishes its start and its end, with timings or the error', async () => {
  const starts: RenderStartEvent[] = [];
  const ends: RenderEvent[] = [];
  const onStart = (message: unknown) => starts.push(message as RenderStartEvent);
  const onEnd = (message: unknown) => ends.push(message as RenderEvent);
  diagnosticsChannel.subscribe('chartd:render:start', onStart);
  diagnosticsChannel.subscribe('chartd:render', onEnd);
  try {
    await renderChart({ chart: { type: 'line', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } }, width: 80, height: 60, format: 'webp' });
    await assert.rejects(renderChart({ chart: { type: 'bar', data: {} }, width: 100_000 }), ChartdError);
  } finally {
    diagnosticsChannel.unsubscribe('chartd:render:start', onStart);
    diagnosticsChannel.unsubscribe('chartd:render', onEnd);
  }
  assert.equal(starts.length, 1, 'a request refused before drawing never starts');
  assert.equal(starts[0]!.job.format, 'webp');
  assert.equal(ends.length, 1);
  const [done] = ends;
  assert.equal(done!.job, starts[0]!.job);
  assert.equal(done!.error, undefined);
  assert.ok(done!.timings && done!.timings.drawMs > 0 && done!.timings.encodeMs > 0, JSON.stringify(done!.timings));
  assert.ok(done!.durationMs >= done!.timings.drawMs);
});

test('a render that fails while drawing publishes its coded error', async () => {
  const ends: RenderEvent[] = [];
  const onEnd = (message: unknown) => ends.push(message as RenderEvent);
  diagnosticsChannel.subscribe('chartd:render', onEnd);
  try {
    await assert.rejects(renderChart({ chart: { type: 'no-such-type', data: { datasets: [{ data: [1] }] } } }), ChartdError);
  } finally {
    diagnosticsChannel.unsubscribe('chartd:render', onEnd);
  }
  assert.equal(ends.length, 1);
  assert.ok(ends[0]!.error instanceof ChartdError);
  assert.equal(ends[0]!.error.code, 'CHART_TYPE_UNKNOWN');
});
