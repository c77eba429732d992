import type { Server } from 'node:net';
import { leakedHandleCounts } from '../render/leak-sentinel.js';
import type { RenderPool } from '../pool/render-pool.js';
import type { RenderCacheStats } from '../server/render-cache.js';
import type { LeakMonitor } from './leak-monitor.js';

/**
 * What a goroutine dump tells a Go developer, for chartd: what keeps the event
 * loop busy, what is rendering and for how long, what waits, and each worker's
 * memory. Sizes only, never configs: they may hold data an operator should not see.
 * With `worker` (a slot, `?worker=N`), the worker sections hold that slot only:
 * two reads a minute apart, diffed, show what its native objects did.
 */
export async function describeResources(deps: {
  pool: RenderPool;
  leakMonitor: LeakMonitor;
  servers: Record<string, Server>;
  renderCache?: RenderCacheStats | undefined;
  worker?: number | undefined;
}): Promise<Record<string, unknown>> {
  const memory = process.memoryUsage();
  const stats = deps.pool.stats();
  const workers = deps.worker === undefined ? stats.workers : stats.workers.filter((worker) => worker.slot === deps.worker);
  const activeResources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) activeResources[type] = (activeResources[type] ?? 0) + 1;
  const sockets: Record<string, number> = {};
  for (const [name, server] of Object.entries(deps.servers)) sockets[name] = await countConnections(server);
  return {
    timestamp: new Date().toISOString(),
    uptimeSeconds: Math.round(process.uptime()),
    process: {
      pid: process.pid,
      rssBytes: memory.rss,
      /** This process and its render workers: what the machine sees. */
      treeRssBytes: memory.rss + stats.workers.reduce((sum, worker) => sum + worker.residentBytes, 0),
      heapUsedBytes: memory.heapUsed,
      externalBytes: memory.external,
      arrayBuffersBytes: memory.arrayBuffers,
      leakedHandles: leakedHandleCounts(),
    },
    activeResources,
    openSockets: sockets,
    /** Images held in this process for identical requests (null when --render-cache is 0). */
    renderCache: deps.renderCache ?? null,
    inFlightRenders: workers
      .filter((worker) => worker.currentTaskAgeMs !== undefined)
      .map((worker) => ({ worker: worker.slot, workerId: worker.id, pid: worker.pid, ageMs: Math.round(worker.currentTaskAgeMs!) })),
    queue: {
      depth: stats.queueDepth,
      capacity: stats.maxQueue,
      tasks: deps.pool.queuedTasks().map((task) => ({ ...task, ageMs: Math.round(task.ageMs) })),
    },
    workers: workers.map((worker) => ({
      worker: worker.slot,
      workerId: worker.id,
      pid: worker.pid ?? null,
      state: worker.state,
      ageSeconds: Math.round(worker.ageMs / 1000),
      renders: worker.renders,
      residentBytes: worker.residentBytes,
      cpuSeconds: Math.round(worker.cpuSeconds * 100) / 100,
      heapUsedBytes: worker.heapUsedBytes,
      heapPostGcBytes: worker.heapPostGcBytes ?? null,
      settledHeapBytes: worker.settledHeapBytes ?? null,
      settledCodeBytes: worker.settledCodeBytes ?? null,
      settledExternalBytes: worker.settledExternalBytes ?? null,
      externalBytes: worker.externalBytes,
      liveCharts: worker.liveCharts,
      liveSandboxes: worker.liveSandboxes,
      leakedHandles: { chart: worker.leakedCharts, canvas: worker.leakedCanvases },
      /** @napi-rs/canvas objects alive by kind (count, pixel bytes), whoever made them: what a native leak is made of. */
      native: worker.native,
    })),
    restarts: stats.restarts,
    leakDetector: deps.leakMonitor
      .states()
      .filter(({ thread }) => deps.worker === undefined || thread === `worker-${deps.worker}`)
      .map(({ thread, signal, estimate }) => ({
        thread,
        signal,
        samples: estimate.samples,
        growthBytesPerHour: Math.round(estimate.bytesPerHour),
        growthRatioPerHour: Math.round(estimate.ratioPerHour * 10_000) / 10_000,
        suspected: estimate.suspected,
      })),
  };
}

function countConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? -1 : count)));
}
