import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { Profile } from 'pprof-format';
import { ChartdError } from '../../src/errors.js';
import { originalPosition } from '../../src/diagnostics/pprof-encode.js';
import { captureCpuProfile, captureHeapProfile, startHeapSampling } from '../../src/diagnostics/profilers.js';

/** Profile errors go through the error catalog like every other answer (the admin port maps them to a status). */

test('a second CPU profile of the same thread is refused with CAPTURE_BUSY while the first runs', async () => {
  const first = captureCpuProfile(1);
  await assert.rejects(captureCpuProfile(1), (error: unknown) => {
    assert.ok(error instanceof ChartdError, `a ChartdError, got ${String(error)}`);
    assert.equal(error.code, 'CAPTURE_BUSY');
    assert.equal(error.statusCode, 409);
    return true;
  });
  const profile = gunzipSync(await first);
  assert.ok(profile.length > 0, 'the first profile completes');
  // Once it has ended, the thread may be profiled again.
  assert.ok(gunzipSync(await captureCpuProfile(1)).length > 0);
});

const retainedForProfile: unknown[] = [];
/** Allocates ~8 MB that the heap profile samples, in a function the test looks up. */
function allocateForProfileTest(): void {
  for (let i = 0; i < 1000; i++) retainedForProfile.push(new Array(1024).fill(i));
}

test("profiles name chartd's TypeScript sources (mapped from dist/ through tsc's source maps), with their lines", async () => {
  await startHeapSampling();
  allocateForProfileTest();
  const profile = Profile.decode(gunzipSync(await captureHeapProfile()));
  retainedForProfile.length = 0;
  const strings = profile.stringTable.strings;
  const fn = profile.function.find((candidate) => strings[Number(candidate.name)] === 'allocateForProfileTest');
  assert.ok(fn, 'allocateForProfileTest is in the heap profile');
  const source = fileURLToPath(new URL('../../../test/diagnostics/profilers.test.ts', import.meta.url));
  assert.equal(strings[Number(fn.filename)], source);
  // The location's line is the function's line in the .ts file, not in the compiled .js.
  const lines = profile.location.flatMap((location) => location.line).filter((line) => Number(line.functionId) === Number(fn.id));
  const tsLine = readFileSync(source, 'utf8').split('\n').findIndex((line) => line.startsWith('function allocateForProfileTest')) + 1;
  assert.deepEqual([...new Set(lines.map((line) => Number(line.line)))], [tsLine]);
  assert.ok(!profile.function.some((candidate) => strings[Number(candidate.filename)]!.includes('/dist/test/')), 'no frame is left in dist/');
  // Files without a source map (dependencies, a script without one) keep their own positions.
  const chartJs = fileURLToPath(new URL('../../../node_modules/chart.js/dist/chart.js', import.meta.url));
  assert.equal(originalPosition(chartJs, 10, 0), undefined);
  assert.equal(originalPosition('/nonexistent/plain.js', 0, 0), undefined);
});
