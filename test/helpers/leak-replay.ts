/**
 * Replays a recorded run of chartd (test/fixtures/leak-series/*.json, written by
 * scripts/record-memory-series.js from a real service under load) through the
 * leak monitor: at each sampling time, the pool's workers as the recording saw
 * them on /metrics (slot, age, renders, settled heap and external memory, resident
 * memory, native objects and bytes by kind when the recording has them: 0 in
 * those made before the census) and the main process's heap and RSS. A worker whose age went down was
 * replaced: it gets a new id, as the pool gives it.
 */
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { LeakMonitor, type MainMemory, type MonitoredPool, type SeriesState } from '../../src/diagnostics/leak-monitor.js';
import { LEAK_DETECTOR_DEFAULTS } from '../../src/diagnostics/leak-detector.js';
import type { PoolStats, WorkerInfo } from '../../src/pool/pool-types.js';
import { NATIVE_KINDS, emptyNativeCounts, type NativeCounts } from '../../src/render/native-kinds.js';

export interface Recording {
  recorded: Record<string, unknown> & { intervalSeconds: number };
  series: Record<string, Array<[seconds: number, value: number]>>;
}

export function loadRecording(name: string): Recording {
  // compiled to dist/test/helpers: the fixtures are JSON, not compiled, read from the source tree
  return JSON.parse(readFileSync(new URL(`../../../test/fixtures/leak-series/${name}.json`, import.meta.url), 'utf8')) as Recording;
}

/** One recorded metric (name with labels) as seconds → value. */
export function recordedSeries(recording: Recording, key: string): Map<number, number> {
  return new Map(recording.series[key] ?? []);
}

export function recordedSlots(recording: Recording): number[] {
  const slots = new Set<number>();
  for (const key of Object.keys(recording.series)) {
    const match = /^chartd_worker_age_seconds\{worker="(\d+)"\}$/.exec(key);
    if (match) slots.add(Number(match[1]));
  }
  return [...slots].sort((a, b) => a - b);
}

export interface Verdict {
  thread: string;
  signal: string;
  /** Seconds since the recording started. */
  atSeconds: number;
  fields: Record<string, unknown>;
  message: string;
}

export interface ReplayResult {
  verdicts: Verdict[];
  /** Worker replacements seen in the recording, per slot. */
  replacements: number[];
  monitor: LeakMonitor;
  recycles: number[];
}

/** Runs the monitor over the recording with default settings (the sampling interval too) unless told otherwise. */
export function replay(
  recording: Recording,
  overrides: {
    intervalSeconds?: number;
    recycleWorkers?: boolean;
    warmUpMs?: number;
    warmUpRenders?: number;
    /** Called after each sample with the detector's state, as /metrics would show it. */
    onSample?: (seconds: number, states: SeriesState[]) => void;
  } = {},
): ReplayResult {
  const intervalSeconds = overrides.intervalSeconds ?? 10;
  const slots = recordedSlots(recording);
  const read = (name: string, slot: number) => recordedSeries(recording, `${name}{worker="${slot}"}`);
  const perSlot = slots.map((slot) => ({
    slot,
    age: read('chartd_worker_age_seconds', slot),
    renders: read('chartd_worker_renders', slot),
    heap: read('chartd_worker_heap_settled_bytes', slot),
    code: read('chartd_worker_heap_code_bytes', slot),
    external: read('chartd_worker_external_settled_bytes', slot),
    resident: read('chartd_worker_resident_bytes', slot),
    native: NATIVE_KINDS.map((kind) => ({
      kind,
      objects: recordedSeries(recording, `chartd_worker_native_objects{worker="${slot}",kind="${kind}"}`),
      bytes: recordedSeries(recording, `chartd_worker_native_bytes{worker="${slot}",kind="${kind}"}`),
    })),
    id: slot,
    lastAge: -1,
    replacements: 0,
  }));
  const mainRss = recordedSeries(recording, 'process_resident_memory_bytes');
  const times = [...mainRss.keys()].sort((a, b) => a - b);

  let current: WorkerInfo[] = [];
  const recycles: number[] = [];
  const pool: MonitoredPool = {
    stats: () => ({ workers: current }) as unknown as PoolStats,
    recycleWorker: (slot: number) => {
      recycles.push(slot);
      return true;
    },
  };
  const verdicts: Verdict[] = [];
  let nowSeconds = 0;
  const log = {
    warn: (fields: Record<string, unknown>, message: string) =>
      verdicts.push({ thread: String(fields.thread), signal: String(fields.signal), atSeconds: nowSeconds, fields, message }),
    info: () => undefined,
    error: () => undefined,
  } as unknown as FastifyBaseLogger;
  const monitor = new LeakMonitor({
    pool,
    log,
    adminUrl: () => 'http://127.0.0.1:9464',
    options: {
      ...LEAK_DETECTOR_DEFAULTS,
      intervalMs: intervalSeconds * 1000,
      recycleWorkers: overrides.recycleWorkers ?? false,
      ...(overrides.warmUpMs === undefined ? {} : { warmUpMs: overrides.warmUpMs }),
      ...(overrides.warmUpRenders === undefined ? {} : { warmUpRenders: overrides.warmUpRenders }),
    },
  });

  let next = times[0] ?? 0;
  for (const t of times) {
    if (t + 1e-9 < next) continue;
    next = t + intervalSeconds;
    nowSeconds = t;
    current = [];
    for (const slot of perSlot) {
      const age = slot.age.get(t);
      const heap = slot.heap.get(t);
      const external = slot.external.get(t);
      const resident = slot.resident.get(t);
      // Absent from a scrape: starting or retiring, which the monitor skips anyway.
      if (age === undefined || resident === undefined) continue;
      if (age < slot.lastAge) {
        slot.id += slots.length;
        slot.replacements++;
      }
      slot.lastAge = age;
      const native: NativeCounts = emptyNativeCounts();
      for (const { kind, objects, bytes } of slot.native) native[kind] = { objects: objects.get(t) ?? 0, bytes: bytes.get(t) ?? 0 };
      current.push({
        id: slot.id,
        slot: slot.slot,
        state: 'idle',
        renders: slot.renders.get(t) ?? 0,
        ageMs: age * 1000,
        settledHeapBytes: heap,
        settledCodeBytes: slot.code.get(t),
        settledExternalBytes: external,
        heapUsedBytes: heap ?? 0,
        externalBytes: external ?? 0,
        residentBytes: resident,
        native,
      } as WorkerInfo);
    }
    // /metrics has the main thread's heap used, not its post-GC heap: garbage included, it is no
    // stand-in for what the monitor reads, so the main thread is left out of replays.
    const main: MainMemory = { heapBytes: undefined };
    monitor.sample(Math.round(t * 1000), main);
    overrides.onSample?.(t, monitor.states());
  }
  return { verdicts, replacements: perSlot.map((slot) => slot.replacements), monitor, recycles };
}
