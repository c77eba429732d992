import { rawRequestBytes } from '../render/chart-request.js';
import type { QueuedTaskInfo, WorkerInfo } from './pool-types.js';
import type { Task } from './task.js';
import type { WorkerSlot } from './worker-slot.js';

/** What the pool's stats() says of a slot's worker at `now` (performance.now()); undefined for an empty slot. */
export function describeWorker(slot: WorkerSlot<Task>, now: number): WorkerInfo | undefined {
  const worker = slot.worker;
  if (!worker) return undefined;
  const { stats } = worker;
  return {
    id: worker.id,
    slot: slot.index,
    pid: worker.pid,
    state: slot.state,
    renders: stats.renders,
    ageMs: now - worker.startedAt,
    heapUsedBytes: stats.heapUsedBytes,
    heapTotalBytes: stats.heapTotalBytes,
    externalBytes: stats.externalBytes,
    heapPostGcBytes: stats.heapPostGcBytes,
    settledHeapBytes: stats.settledHeapBytes,
    settledCodeBytes: stats.settledCodeBytes,
    settledExternalBytes: stats.settledExternalBytes,
    residentBytes: worker.residentBytes,
    cpuSeconds: worker.usage?.cpuSeconds ?? 0,
    liveCharts: stats.liveCharts,
    liveSandboxes: stats.liveSandboxes,
    leakedCharts: stats.leakedCharts,
    leakedCanvases: stats.leakedCanvases,
    native: stats.native,
    gc: stats.gc,
    currentTaskAgeMs: slot.task?.startedAt === undefined ? undefined : now - slot.task.startedAt,
  };
}

/** A queued task as the resources page shows it: kinds and sizes only, never the config. */
export function describeQueuedTask(task: Task, now: number): QueuedTaskInfo {
  return {
    taskId: task.id,
    ageMs: now - task.enqueuedAt,
    kind: 'job' in task.input ? 'job' : task.input.request.kind,
    requestBytes: 'job' in task.input ? 0 : rawRequestBytes(task.input.request),
  };
}
