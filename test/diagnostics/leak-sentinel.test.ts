import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leakedHandleCounts } from '../../src/index.js';
import { openCanvas } from '../../src/render/handles.js';

async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, 'needs --expose-gc');
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('a canvas handle dropped without dispose is counted', async () => {
  const before = leakedHandleCounts().canvas;
  (() => {
    for (let i = 0; i < 3; i++) openCanvas(50, 50);
  })();
  await collect();
  assert.equal(leakedHandleCounts().canvas - before, 3);
});

test('disposed handles are not counted', async () => {
  const before = leakedHandleCounts();
  for (let i = 0; i < 20; i++) {
    using surface = openCanvas(50, 50);
    surface.canvas.getContext('2d').fillRect(0, 0, 10, 10);
  }
  await collect();
  assert.deepEqual(leakedHandleCounts(), before);
});
