// The leak monitor and detector, with default settings, on memory series recorded
// from real runs of chartd (test/fixtures/leak-series/*.json: `node bin/chartd.js
// serve` with default options unless the fixture's `recorded.serve` says otherwise,
// 2 workers, two loops of POST /chart, /metrics scraped every 5 s by
// scripts/record-memory-series.js, trimmed to 10 s by scripts/trim-recording.js;
// each fixture's `recorded` header says how). The leaks are real too: the test
// fixture test/fixtures/fault-hooks.js preloaded into the workers retains memory
// on every Nth render. Nothing here is synthetic: what is asserted is what the
// detector makes of what a real service showed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LEAK_MONITOR_WARM_UP } from '../../src/diagnostics/leak-monitor.js';
import { loadRecording, recordedSeries, recordedSlots, replay, type Verdict } from '../helpers/leak-replay.js';

const TEN_MINUTES = 600;

function describe(verdicts: Verdict[]): string {
  return JSON.stringify(verdicts.map((v) => `${v.atSeconds}s ${v.thread}/${v.signal} ${v.message.split(';')[0]}`));
}

test('clean, workers recycled (default --max-renders-per-worker, ~10 renders/s per worker): never flagged', () => {
  const { verdicts, replacements } = replay(loadRecording('clean-recycled'));
  assert.ok(replacements.every((count) => count >= 2), `the recording should hold recycles: ${replacements}`);
  assert.deepEqual(verdicts, [], describe(verdicts));
});

test('clean, 40 minutes at ~2.5 renders/s per worker: never flagged', () => {
  const { verdicts, monitor } = replay(loadRecording('clean-slow'));
  assert.deepEqual(verdicts, [], describe(verdicts));
  // The detector had its verdict time: every worker series covered the minimum span (6 minutes)
  // more than twice over (resident memory, sampled from a process's tenth minute, the least).
  for (const state of monitor.states()) assert.ok(state.estimate.spanMs >= 15 * 60_000, `${state.thread}/${state.signal} covered ${state.estimate.spanMs} ms`);
});

test('clean for 90 minutes, recycles included: never flagged', () => {
  const { verdicts, replacements } = replay(loadRecording('clean-hours'));
  assert.ok(replacements.every((count) => count >= 2), `the recording should hold recycles: ${replacements}`);
  assert.deepEqual(verdicts, [], describe(verdicts));
});

test('clean at saturation (~23 renders/s per worker, recorded before the settled readings): no verdict on the resident or native memory they hold', () => {
  for (const name of ['clean-1', 'clean-long', 'heap-leak-long']) {
    const { verdicts, monitor } = replay(loadRecording(name));
    // heap-leak-long's leak (~40 MiB/h) shows in its workers' resident memory too; the clean runs show nothing.
    if (name === 'heap-leak-long') assert.ok(verdicts.length > 0 && verdicts.every((v) => v.signal === 'rss'), describe(verdicts));
    else assert.deepEqual(verdicts, [], describe(verdicts));
    assert.ok(monitor.states().some((state) => state.signal === 'native'), `${name}: no native series`);
  }
});

/** A verdict on every slot's `signal` within 10 minutes, its measured growth near the planted rate. */
function assertFlagged(verdicts: Verdict[], threads: string[], signal: string, plantedBytesPerHour: number): Verdict[] {
  return threads.map((thread) => {
    const verdict = verdicts.find((v) => v.thread === thread && v.signal === signal);
    assert.ok(verdict, `${thread}/${signal} not flagged: ${describe(verdicts)}`);
    assert.ok(verdict.atSeconds <= TEN_MINUTES, `${thread}/${signal} flagged at ${verdict.atSeconds} s`);
    const measured = verdict.fields.growthBytesPerHour as number;
    assert.ok(measured > plantedBytesPerHour / 2 && measured < plantedBytesPerHour * 2, `${thread}/${signal}: ${measured} B/h measured, ${plantedBytesPerHour} planted`);
    return verdict;
  });
}

test('a heap leak of ~3 MiB/h per worker is flagged on every slot within 10 minutes, with the command that names it', () => {
  const { verdicts } = replay(loadRecording('heap-leak-3mb'));
  // An 8 KiB array kept on every 25th request, the requests alternating between the two workers: one per 25 renders of each.
  for (const verdict of assertFlagged(verdicts, ['worker-0', 'worker-1'], 'heap', (8.2e3 * 2.5 * 3600) / 25)) {
    const next = verdict.fields.next as string[];
    const slot = verdict.thread.slice(7);
    assert.equal(next[0], `go tool pprof -top 'http://127.0.0.1:9464/debug/pprof/heap?worker=${slot}&since=warmup'`);
    assert.ok(next.includes('go tool pprof -top -diff_base heap-1.pb.gz heap-2.pb.gz'));
  }
  // One episode per series: a slope at the threshold that flickers for a sample neither ends it nor logs again.
  const episodes = verdicts.map((v) => `${v.thread}/${v.signal}`);
  assert.equal(new Set(episodes).size, episodes.length, describe(verdicts));
});

test('a heap leak in one worker: that worker is flagged within 10 minutes, its clean neighbour under the same load is not', () => {
  const { verdicts } = replay(loadRecording('heap-leak-one-worker'));
  // Every 12th request: with requests alternating between the workers, all of them land on worker 0.
  assertFlagged(verdicts, ['worker-0'], 'heap', (8.2e3 * 2.5 * 3600) / 6);
  assert.deepEqual(verdicts.filter((v) => v.thread === 'worker-1'), [], describe(verdicts));
});

test('a Buffer leak of ~3 MiB/h per worker is flagged on the external signal within 10 minutes, pointing at a heap snapshot', () => {
  const { verdicts } = replay(loadRecording('external-leak-3mb'));
  // A 4 KiB Buffer kept on every 13th request: one per 13 renders of each worker.
  for (const verdict of assertFlagged(verdicts, ['worker-0', 'worker-1'], 'external', (4096 * 2.5 * 3600) / 13)) {
    assert.ok((verdict.fields.next as string[]).some((command) => command.includes('/debug/heapsnapshot?worker=')));
  }
});

test('a slot keeps one series across recycles: the time covered adds up over its processes', () => {
  const recording = loadRecording('clean-recycled');
  const { monitor, replacements } = replay(recording);
  assert.ok(replacements.every((count) => count >= 2));
  for (const slot of recordedSlots(recording)) {
    // The most one process of this slot could give past its warm-up: its age at the end, less the warm-up.
    const oldest = Math.max(...recordedSeries(recording, `chartd_worker_age_seconds{worker="${slot}"}`).values());
    const oneProcessMs = (oldest - LEAK_MONITOR_WARM_UP.ms / 1000) * 1000;
    for (const state of monitor.states().filter((s) => s.thread === `worker-${slot}`)) {
      assert.ok(state.estimate.spanMs > 1.5 * oneProcessMs, `${state.thread}/${state.signal}: ${state.estimate.spanMs} ms, one process ${oneProcessMs} ms`);
    }
  }
});

test('canvases a plugin retains (native-leak-1) get a native verdict naming the worker and kind=canvas within 10 minutes, pointing at the census', () => {
  const recording = loadRecording('native-leak-1');
  const { verdicts } = replay(recording);
  for (const slot of recordedSlots(recording)) {
    const thread = `worker-${slot}`;
    const verdict = verdicts.find((v) => v.thread === thread && v.signal === 'native');
    assert.ok(verdict, `${thread}/native not flagged: ${describe(verdicts)}`);
    assert.ok(verdict.atSeconds <= TEN_MINUTES, `${thread}/native flagged at ${verdict.atSeconds} s`);
    assert.equal(verdict.fields.kind, 'canvas');
    assert.match(verdict.message, new RegExp(`^memory growth suspected in ${thread} \\(native: canvas, \\d+ alive\\)`));
    const next = verdict.fields.next as string[];
    assert.equal(next[0], `curl -s 'http://127.0.0.1:9464/debug/resources?worker=${slot}'`);
    assert.ok(next.some((command) => command.includes(`/debug/heapsnapshot?worker=${slot}'`)));
    assert.ok(next.some((command) => command.includes(`chartd_worker_native_(objects|bytes)\\{worker="${slot}",kind="canvas"\\}`)));
  }
  // The RSS verdicts of the same run point at the native objects first, never at a heap profile.
  for (const verdict of verdicts.filter((v) => v.signal === 'rss')) {
    const next = verdict.fields.next as string[];
    assert.match(next[0]!, /\/debug\/resources\?worker=\d'$/);
    assert.ok(next.some((command) => command.includes('chartd_worker_native_(objects|bytes)')));
    assert.ok(!next.some((command) => command.includes('pprof')), next.join(' && '));
  }
});

test('no native verdict without the leak (clean-native-1): a clean worker holds its one reusable canvas', () => {
  const recording = loadRecording('clean-native-1');
  const { verdicts } = replay(recording);
  assert.deepEqual(
    verdicts.filter((v) => v.signal === 'native'),
    [],
    describe(verdicts),
  );
  for (const slot of recordedSlots(recording)) {
    const canvases = [...recordedSeries(recording, `chartd_worker_native_objects{worker="${slot}",kind="canvas"}`).values()];
    assert.ok(canvases.length > 50 && Math.max(...canvases) <= 2, `worker ${slot}: ${canvases.join(' ')}`);
  }
});
