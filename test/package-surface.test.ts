import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

/**
 * The public surface: package.json's `exports` allows the entry point only, and the entry
 * point exports exactly the names docs/API.md's "Library" table lists. Imported by the
 * package's own name (Node's self-reference), as a dependent would.
 */

const API_DOC = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');

function documentedExports(): string[] {
  const section = API_DOC.slice(API_DOC.indexOf('\n## Library'), API_DOC.indexOf('\n## CLI'));
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const cell = /^\| (`[^|]+) \|/.exec(line)?.[1];
    if (!cell) continue;
    for (const match of cell.matchAll(/`([A-Za-z_]\w*)/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

test('the entry point exports exactly the documented names', async () => {
  const chartd = (await import('chartd')) as Record<string, unknown>;
  const documented = documentedExports();
  assert.ok(documented.length >= 10, `docs/API.md lists the library's exports (found ${documented.join(', ')})`);
  assert.deepEqual(Object.keys(chartd).sort(), documented);
});

test('the documented functions render: a chart through the package name', async () => {
  const { renderChart, countLiveCharts } = await import('chartd');
  const { body, contentType } = await renderChart({ chart: { type: 'bar', data: { labels: ['a'], datasets: [{ data: [1] }] } }, width: 60, height: 40 });
  assert.equal(contentType, 'image/png');
  assert.deepEqual([...body.subarray(1, 4)].map((byte) => String.fromCharCode(byte)).join(''), 'PNG');
  assert.equal(countLiveCharts(), 0);
});

test('deep imports are refused: only the entry point and package.json are exported', async () => {
  await assert.rejects(import('chartd/dist/src/errors.js' as string), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  await assert.rejects(import('chartd/dist/src/pool/render-pool.js' as string), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  const manifest = JSON.parse(readFileSync(new URL(import.meta.resolve('chartd/package.json')), 'utf8')) as { name: string };
  assert.equal(manifest.name, 'chartd');
});
