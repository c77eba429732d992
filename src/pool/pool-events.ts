import type { ChartdError } from '../errors.js';
import type { JobSummary, StageTimings } from '../render/answer-chart-request.js';
import type { ProcessUsage } from './process-usage.js';
import type { WorkerStats } from './protocol.js';

/** Why a worker was replaced. */
export type RestartReason = 'recycled' | 'memory' | 'deadline' | 'crash';
export const RESTART_REASONS: readonly RestartReason[] = ['recycled', 'memory', 'deadline', 'crash'];

/** Why a job was refused before it was queued. */
export type RejectReason = 'queue_full' | 'shutting_down';

/** Emitted once per settled job. */
export interface TaskEvent {
  /** Known once a worker has parsed the request. */
  job: JobSummary | undefined;
  outcome: 'rendered' | 'not-modified' | 'refused' | 'failed';
  queueWaitMs: number;
  /** Time on a worker; 0 when the job never reached one. */
  renderMs: number;
  /** Per-stage times measured in the worker, when it answered. */
  timings: StageTimings | undefined;
  error: ChartdError | undefined;
  /** The submitter's RequestOptions.tag. */
  tag: string | undefined;
}

export interface WorkerRef {
  slot: number;
  workerId: number;
  pid: number | undefined;
}

export interface WorkerExitEvent extends WorkerRef {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the pool asked for the exit (recycle, deadline, shutdown); false for a crash. */
  expected: boolean;
  /** In words: "killed past its deadline", "ran out of heap (limit 512 MiB)", "exited with code 3"... */
  cause: string;
  stats: WorkerStats;
  usage: ProcessUsage | undefined;
  /** The last of what the worker wrote to stderr (a crash's report), when it crashed. */
  stderrTail: string | undefined;
}

export interface WorkerOutputEvent extends WorkerRef {
  stream: 'stdout' | 'stderr';
  line: string;
}

/**
 * The pool's events. Listeners run synchronously in the pool's own code paths:
 * an exception thrown by one is caught, and reported as a 'fault'.
 */
export interface RenderPoolEvents {
  task: [TaskEvent];
  rejected: [RejectReason];
  restart: [RestartReason, WorkerRef];
  workerStart: [WorkerRef];
  workerReady: [WorkerRef];
  workerExit: [WorkerExitEvent];
  workerOutput: [WorkerOutputEvent];
  /** An unexpected error inside the pool's timers or callbacks, caught so that it cannot end the process. */
  fault: [where: string, error: unknown];
}
