import { Session } from 'node:inspector';
import { ChartdError } from '../errors.js';
import { encodePprof, type CallFrame, type StackSample } from './pprof-encode.js';

/**
 * Heap and CPU profiles of the current thread (main or worker: an inspector
 * Session connects to its own thread) in pprof format. The heap profiler samples
 * allocations from the moment it starts, so it is started at boot: a profile then
 * shows what is in use now and which functions allocated it, as Go's heap profile.
 */

const HEAP_SAMPLING_INTERVAL_BYTES = 128 * 1024; // one sample per ~128 KiB allocated: cheap enough to leave on
const PPROF_ENCODER_FILE = '/diagnostics/pprof-encode.js';

interface SamplingHeapProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: SamplingHeapProfileNode[];
}

interface SamplingHeapProfile {
  head: SamplingHeapProfileNode;
  /** One per sampled allocation still alive; `ordinal` grows with every sample V8 takes, so it orders them in time. */
  samples: Array<{ size: number; nodeId: number; ordinal: number }>;
}

interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * One inspector session per process, living for the process: the heap sampler it
 * starts must cover everything allocated since start, so no service's close()
 * ends it (another service in the same process may still profile).
 */
let session: Session | undefined;

function getSession(): Session {
  if (!session) {
    session = new Session();
    session.connect();
  }
  return session;
}

function post<T>(method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    getSession().post(method, params, (error, result) =>
      error ? reject(new ChartdError('CAPTURE_FAILED', `the inspector's ${method} failed: ${error.message}`, { cause: error })) : resolve(result as T),
    );
  });
}

/** A full garbage collection of this thread (the inspector's: works without --expose-gc). */
export function collectGarbage(): Promise<void> {
  return post('HeapProfiler.collectGarbage');
}

let heapSampling: Promise<void> | undefined;

/** Starts the sampling heap profiler of this thread (idempotent). */
export function startHeapSampling(): Promise<void> {
  heapSampling ??= post('HeapProfiler.startSampling', { samplingInterval: HEAP_SAMPLING_INTERVAL_BYTES });
  return heapSampling;
}

/**
 * Which in-use allocations a heap profile shows: all of them (`boot`), or only
 * those made after this process's warm-up (`warmup`). What a process builds while
 * starting (modules, compiled code, fonts, Chart.js' registries) is held for good
 * and outweighs a young leak; what a healthy process allocates afterwards is freed,
 * so the live allocations made after warm-up are its growth.
 */
export type HeapProfileScope = 'boot' | 'warmup';

/** The sample ordinal at each mark: a sample taken later has a greater one. */
const marks: { ready?: number; warmup?: number } = {};

/**
 * The last sample ordinal, read every few seconds from the ready mark on: it dates
 * samples, so a growth profile can leave out what is younger than `heldMs`. What
 * a process replaces with every render (the state of the render in progress, a
 * cache of the last chart's fonts) is young and the same size however long it
 * runs; a leak's objects stay and age. Covers the last CLOCK_ENTRIES reads.
 */
const clock: Array<{ at: number; ordinal: number }> = [];
const CLOCK_ENTRIES = 120;
let clockTimer: NodeJS.Timeout | undefined;
/** Growth profiles count what has been held at least this long (set with the ready mark). */
let heldMs = 60_000;

async function readSamplingProfile(): Promise<SamplingHeapProfile> {
  await startHeapSampling();
  return (await post<{ profile: SamplingHeapProfile }>('HeapProfiler.getSamplingProfile')).profile;
}

async function lastOrdinal(): Promise<number> {
  const profile = await readSamplingProfile();
  let last = 0;
  for (const sample of profile.samples) last = Math.max(last, sample.ordinal);
  return last;
}

/**
 * Marks a moment of this process's life for `captureHeapProfile('warmup')`: `ready`
 * when it starts serving (which also starts the clock that dates samples, one read
 * every heldMs / 6, at most every 10 s), `warmup` when its warm-up is over (the
 * leak detector's, docs/LEAKS.md). Each read of the sampling profile costs about
 * a millisecond.
 */
export async function markHeapProfile(mark: keyof typeof marks, options: { heldMs?: number } = {}): Promise<void> {
  marks[mark] = await lastOrdinal();
  if (mark !== 'ready' || clockTimer) return;
  heldMs = options.heldMs ?? heldMs;
  clockTimer = setInterval(
    () =>
      void lastOrdinal().then(
        (ordinal) => {
          clock.push({ at: performance.now(), ordinal });
          if (clock.length > CLOCK_ENTRIES) clock.shift();
        },
        () => undefined,
      ),
    Math.min(10_000, Math.max(100, Math.round(heldMs / 6))),
  );
  clockTimer.unref();
}

/** The last ordinal read at least `heldMs` ago, or undefined when the clock is not that old yet. */
function ordinalHeldSince(now: number): number | undefined {
  let found: number | undefined;
  for (const entry of clock) {
    if (entry.at > now - heldMs) break;
    found = entry.ordinal;
  }
  return found;
}

/** The in-use heap profile of this thread, gzipped pprof: inuse_objects and inuse_space. */
export async function captureHeapProfile(scope: HeapProfileScope = 'boot'): Promise<Buffer> {
  // A full collection first: the sampler forgets an allocation only when it is collected, and
  // old-generation garbage waits for a major GC (a worker's renders left ~1.5 MB of it, which
  // outranked a young leak). Tens of milliseconds on a worker's heap, once per capture.
  await collectGarbage();
  const profile = await readSamplingProfile();
  // Before its warm-up is over, a process's growth is counted from when it was ready;
  // and only what has been held heldMs (while the clock is younger than that, everything since).
  const after = scope === 'warmup' ? (marks.warmup ?? marks.ready ?? 0) : 0;
  const upTo = scope === 'warmup' ? (ordinalHeldSince(performance.now()) ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  const counts = new Map<number, number>();
  const sizes = new Map<number, number>();
  for (const sample of profile.samples) {
    if (sample.ordinal <= after || sample.ordinal > upTo) continue;
    counts.set(sample.nodeId, (counts.get(sample.nodeId) ?? 0) + 1);
    sizes.set(sample.nodeId, (sizes.get(sample.nodeId) ?? 0) + sample.size);
  }
  const samples: StackSample[] = [];
  const walk = (node: SamplingHeapProfileNode, stack: CallFrame[]) => {
    // The encoder's own cache of source maps (read at each process's first captures) is the profiler's memory, not the service's.
    if (node.callFrame.url.endsWith(PPROF_ENCODER_FILE)) return;
    const frames = node.callFrame.functionName === '(root)' ? stack : [node.callFrame, ...stack];
    const size = scope === 'boot' ? node.selfSize : (sizes.get(node.id) ?? 0);
    if (size > 0) samples.push({ frames, values: [counts.get(node.id) ?? 1, size] });
    for (const child of node.children) walk(child, frames);
  };
  walk(profile.head, []);
  return encodePprof({
    sampleTypes: [
      ['inuse_objects', 'count'],
      ['inuse_space', 'bytes'],
    ],
    samples,
    periodType: ['space', 'bytes'],
    period: HEAP_SAMPLING_INTERVAL_BYTES,
    comments: [heapProfileComment(scope)],
  });
}

function heapProfileComment(scope: HeapProfileScope): string {
  if (scope === 'boot' || marks.ready === undefined) return 'in-use allocations since the process started';
  if (marks.warmup === undefined) return `in-use allocations made since the process was ready (its warm-up is not over yet) and held for over ${Math.round(heldMs / 1000)} s`;
  return `in-use allocations made after the warm-up and held for over ${Math.round(heldMs / 1000)} s: the growth since then`;
}

let cpuBusy = false;

/** A CPU profile of this thread over `seconds`, gzipped pprof: samples and cpu nanoseconds. */
export async function captureCpuProfile(seconds: number): Promise<Buffer> {
  if (cpuBusy) throw new ChartdError('CAPTURE_BUSY', 'a CPU profile of this thread is already running; retry when it ends');
  cpuBusy = true;
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 1000 }); // µs
    await post('Profiler.start');
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const { profile } = await post<{ profile: CpuProfile }>('Profiler.stop');
    await post('Profiler.disable');
    return encodeCpuProfile(profile);
  } finally {
    cpuBusy = false;
  }
}

function encodeCpuProfile(profile: CpuProfile): Buffer {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const timeByNode = new Map<number, number>();
  const hitsByNode = new Map<number, number>();
  const ids = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    // timeDeltas[i] is the time before sample i; attribute the time after it to it.
    const micros = deltas[i + 1] ?? 0;
    timeByNode.set(id, (timeByNode.get(id) ?? 0) + Math.max(0, micros));
    hitsByNode.set(id, (hitsByNode.get(id) ?? 0) + 1);
  }
  const samples: StackSample[] = [];
  for (const [id, hits] of hitsByNode) {
    const frames: CallFrame[] = [];
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      const frame = byId.get(current)!.callFrame;
      if (frame.functionName !== '(root)') frames.push(frame);
    }
    samples.push({ frames, values: [hits, Math.round((timeByNode.get(id) ?? 0) * 1000)] });
  }
  return encodePprof({
    sampleTypes: [
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ],
    samples,
    periodType: ['cpu', 'nanoseconds'],
    period: 1_000_000,
    durationNanos: Math.round((profile.endTime - profile.startTime) * 1000),
  });
}
