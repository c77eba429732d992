import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderChart, type OutputFormat } from '../../src/index.js';
import { countDrawnPixels, decodeImage } from '../helpers/images.js';

// Chart.js 2 computes a negative radius when a legend leaves no room; Skia throws
// on it where node-canvas (QuickChart) clamps. Found by the HTTP memory test.
for (const format of ['png', 'svg', 'pdf'] satisfies OutputFormat[]) {
  test(`polarArea with a legend taller than the canvas renders (Chart.js 2, ${format})`, async () => {
    const labels = Array.from({ length: 60 }, (_, i) => `label ${i}`);
    const result = await renderChart({
      chart: { type: 'polarArea', data: { labels, datasets: [{ data: labels.map((_, i) => i + 1) }] } },
      version: '2',
      width: 300,
      height: 200,
      format,
    });
    if (format === 'png') assert.ok(countDrawnPixels(await decodeImage(result.body)) > 1000);
    else assert.ok(result.body.length > 1000);
  });
}
