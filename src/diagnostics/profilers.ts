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

interface SamplingHeapProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: SamplingHeapProfileNode[];
}

interface SamplingHeapProfile {
  head: SamplingHeapProfileNode;
  samples: Array<{ size: number; nodeId: number }>;
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

let heapSampling: Promise<void> | undefined;

/** Starts the sampling heap profiler of this thread (idempotent). */
export function startHeapSampling(): Promise<void> {
  heapSampling ??= post('HeapProfiler.startSampling', { samplingInterval: HEAP_SAMPLING_INTERVAL_BYTES });
  return heapSampling;
}

/** The in-use heap profile of this thread, gzipped pprof: inuse_objects and inuse_space. */
export async function captureHeapProfile(): Promise<Buffer> {
  await startHeapSampling();
  const { profile } = await post<{ profile: SamplingHeapProfile }>('HeapProfiler.getSamplingProfile');
  const counts = new Map<number, number>();
  for (const sample of profile.samples) counts.set(sample.nodeId, (counts.get(sample.nodeId) ?? 0) + 1);
  const samples: StackSample[] = [];
  const walk = (node: SamplingHeapProfileNode, stack: CallFrame[]) => {
    const frames = node.callFrame.functionName === '(root)' ? stack : [node.callFrame, ...stack];
    if (node.selfSize > 0) samples.push({ frames, values: [counts.get(node.id) ?? 1, node.selfSize] });
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
  });
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
