import { ChartdError } from '../errors.js';
import type { SlotState } from './worker-slot.js';

/**
 * What a worker's resident memory calls for: past the limit mid-render, kill it (only
 * its render fails); past the budget between renders, recycle it once it is quiet.
 */
export function memoryVerdict(
  state: SlotState,
  rssBytes: number,
  limits: { workerMemoryLimitBytes: number; workerMemoryBudgetBytes: number },
): 'kill' | 'recycle' | undefined {
  if (state === 'busy' && rssBytes > limits.workerMemoryLimitBytes) return 'kill';
  if (state === 'idle' && rssBytes > limits.workerMemoryBudgetBytes) return 'recycle';
  return undefined;
}

/** The error the render gets whose worker passed the memory limit. */
export function renderOutOfMemory(rssBytes: number, limitBytes: number): ChartdError {
  return new ChartdError(
    'RENDER_OUT_OF_MEMORY',
    `the render grew its worker to ${mib(rssBytes)} MiB resident, over the limit of ${mib(limitBytes)} MiB; ` +
      'ask for fewer points, a smaller size or a lower devicePixelRatio',
  );
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}
