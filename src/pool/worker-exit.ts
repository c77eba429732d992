import { ChartdError } from '../errors.js';
import type { WorkerExit } from './worker-process.js';

/** "was killed past its render deadline", "ran out of heap (limit 512 MiB)", "was killed by SIGSEGV", "exited with code 3". */
export function describeExit(exit: WorkerExit, heapLimitMb: number): string {
  switch (exit.killedFor) {
    case 'deadline':
      return 'was killed past its render deadline';
    case 'memory':
      return 'was killed over its memory limit';
    case 'terminated':
      return 'was terminated';
    case 'exit-grace':
      return 'was killed when it did not exit in time';
    case 'capture-timeout':
      return 'was killed when a capture took too long';
    case 'shutdown':
      return 'was stopped at shutdown';
    case undefined:
      break;
  }
  if (exit.outOfHeap) return `ran out of heap (limit ${heapLimitMb} MiB)`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  if (exit.code === null) return 'could not be started';
  return `exited with code ${exit.code}`;
}

/** The error of a job whose worker exited under it: its own fault when it ran out of heap, else a crash. */
export function taskErrorFromExit(exit: WorkerExit, cause: string): ChartdError {
  if (exit.outOfHeap && exit.killedFor === undefined) {
    return new ChartdError(
      'RENDER_OUT_OF_MEMORY',
      `the render needed more than the worker's heap (${cause}); ask for fewer points, ticks or labels, or a smaller chart`,
    );
  }
  return new ChartdError('WORKER_CRASHED', `the render worker ${cause} while rendering this chart; other renders are unaffected`);
}
