import type { RenderJob } from '../render/job.js';

/**
 * Faults on demand, for chartd's own tests and chaos runs only: enabled by
 * CHARTD_TEST_HOOKS=1 in the environment of the process that starts the pool,
 * otherwise inert. A config with `options.plugins.chartdTest` =
 *  - { busyMs } spins the worker's thread (a stuck render);
 *  - { oom: true } allocates until the heap limit kills the worker;
 *  - { exit: code } ends the thread (a crash);
 *  - { leakBytes } retains that much memory per render in leakingTestPlugin
 *    (a leak for the detector and the heap profile to find).
 */
export async function runTestHook(job: RenderJob): Promise<void> {
  if (process.env.CHARTD_TEST_HOOKS !== '1') return;
  const options = job.config.options as { plugins?: { chartdTest?: TestHook } } | undefined;
  const hook = options?.plugins?.chartdTest;
  if (!hook) return;
  delete options!.plugins!.chartdTest;
  if (typeof hook.busyMs === 'number') {
    const until = Date.now() + hook.busyMs;
    while (Date.now() < until) {
      // Busy on purpose: a render that never yields, as a pathological config would.
    }
  }
  if (typeof hook.leakBytes === 'number') leakingTestPlugin(hook.leakBytes);
  if (hook.oom) {
    const hoard: unknown[] = [];
    for (;;) hoard.push(new Array(1_000_000).fill(hoard.length));
  }
  if (typeof hook.exit === 'number') process.exit(hook.exit);
}

const retained: unknown[] = [];

/** Named so a heap profile can be checked for it: the leak a test plants. */
function leakingTestPlugin(bytes: number): void {
  const count = Math.max(1, Math.floor(bytes / 8 / 1024));
  for (let i = 0; i < count; i++) retained.push(new Array(1024).fill(retained.length));
}

interface TestHook {
  busyMs?: number;
  oom?: boolean;
  exit?: number;
  leakBytes?: number;
}
