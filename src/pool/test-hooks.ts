import type { RenderJob } from '../render/job.js';

/**
 * Faults on demand, for the pool's own tests only: enabled by CHARTD_TEST_HOOKS=1
 * in the environment of the process that starts the pool, otherwise inert.
 * A config with `options.plugins.chartdTest` = { busyMs } spins the worker's
 * thread (a stuck render), { oom: true } allocates until the heap limit kills it,
 * and { exit: code } ends the thread (a crash).
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
  if (hook.oom) {
    const hoard: unknown[] = [];
    for (;;) hoard.push(new Array(1_000_000).fill(hoard.length));
  }
  if (typeof hook.exit === 'number') process.exit(hook.exit);
}

interface TestHook {
  busyMs?: number;
  oom?: boolean;
  exit?: number;
}
