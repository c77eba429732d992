import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChartdError } from '../errors.js';
import type { HeapSnapshotFile } from './pool-types.js';
import type { CaptureReply, ProfileKind } from './protocol.js';
import type { WorkerSlot } from './worker-slot.js';

interface Pending {
  workerId: number;
  resolve(body: Uint8Array | undefined): void;
  reject(error: ChartdError): void;
  timer: NodeJS.Timeout;
}

export interface CaptureOptions {
  /** A profile waits for the render its worker is in: it gets this (the render deadline) plus a margin. */
  renderTimeoutMs: number;
  /** Longest a heap snapshot may hold its worker; past it the worker is killed. */
  snapshotTimeoutMs: number;
}

/** How long past its own duration (and the render deadline) a profile may take. */
const PROFILE_MARGIN_MS = 30_000;

/**
 * Diagnostic captures of worker processes: pprof profiles and heap snapshots,
 * taken inside the worker and answered over IPC. Every request waiting for an
 * answer is in one table keyed by request id, so nothing is left behind per
 * request (no listener per capture); a worker that exits fails its captures at
 * once with CAPTURE_FAILED, and a capture past its timeout fails too.
 */
export class WorkerCaptures {
  readonly #pending = new Map<number, Pending>();
  readonly #options: CaptureOptions;
  #nextId = 1;
  #snapshotDir: string | undefined;

  constructor(options: CaptureOptions) {
    this.#options = options;
  }

  /** A pprof profile of the worker in a ready slot. */
  async profile(slot: WorkerSlot<unknown>, kind: ProfileKind, seconds: number | undefined): Promise<Buffer> {
    const worker = slot.worker!;
    const timeoutMs = (kind === 'cpu-profile' ? (seconds ?? 10) * 1000 : 0) + this.#options.renderTimeoutMs + PROFILE_MARGIN_MS;
    const { requestId, done } = this.#open(worker.id, timeoutMs);
    if (!worker.send({ type: 'profile', requestId, kind, seconds })) this.#fail(requestId, exiting(slot.index));
    const body = (await done) ?? new Uint8Array();
    return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }

  /**
   * A heap snapshot of the worker in a ready slot, written by the worker to a
   * private file. It starts at once when the slot is idle; otherwise the pool
   * calls startSnapshot() when the slot's job ends (the slot takes no other job first).
   */
  async heapSnapshot(slot: WorkerSlot<unknown>): Promise<HeapSnapshotFile> {
    if (slot.snapshot) throw new ChartdError('CAPTURE_BUSY', `a heap snapshot of worker ${slot.index} is already being written`);
    const worker = slot.worker!;
    // mkdtemp makes the directory 0700: a snapshot holds every secret the worker had.
    this.#snapshotDir ??= mkdtempSync(join(tmpdir(), 'chartd-heap-'));
    const path = join(this.#snapshotDir, `worker-${slot.index}-${worker.id}-${Date.now()}.heapsnapshot`);
    const { requestId, done } = this.#open(worker.id, this.#options.snapshotTimeoutMs, () => worker.kill('capture-timeout'));
    slot.snapshot = { requestId, path, started: false };
    if (slot.state === 'idle') this.startSnapshot(slot);
    try {
      await done;
      return { path, sizeBytes: statSync(path).size, remove: () => rm(path, { force: true }) };
    } catch (error) {
      rmSync(path, { force: true });
      throw error;
    } finally {
      if (slot.snapshot?.requestId === requestId) slot.snapshot = undefined;
    }
  }

  /** Sends the slot's pending snapshot request: the slot is capturing until the answer. */
  startSnapshot(slot: WorkerSlot<unknown>): void {
    const snapshot = slot.snapshot!;
    snapshot.started = true;
    slot.state = 'capturing';
    if (!slot.worker!.send({ type: 'heap-snapshot', requestId: snapshot.requestId, path: snapshot.path })) {
      this.#fail(snapshot.requestId, exiting(slot.index));
    }
  }

  /** Settles the capture a worker answered. True when it was the slot's heap snapshot. */
  onReply(slot: WorkerSlot<unknown>, reply: CaptureReply): boolean {
    const wasSnapshot = slot.snapshot?.requestId === reply.requestId;
    if (wasSnapshot) slot.snapshot = undefined;
    const pending = this.#take(reply.requestId);
    if (reply.type === 'capture') pending?.resolve(reply.body);
    else pending?.reject(ChartdError.fromSerialized(reply.error));
    return wasSnapshot;
  }

  /** Fails every capture of a worker that has gone. */
  failWorker(workerId: number, error: () => ChartdError): void {
    for (const [requestId, pending] of this.#pending) if (pending.workerId === workerId) this.#fail(requestId, error());
  }

  countFor(workerId: number): number {
    let count = 0;
    for (const pending of this.#pending.values()) if (pending.workerId === workerId) count++;
    return count;
  }

  /** Deletes the snapshot directory (the pool is closed). */
  removeFiles(): void {
    if (this.#snapshotDir) rmSync(this.#snapshotDir, { recursive: true, force: true });
  }

  #open(workerId: number, timeoutMs: number, onTimeout?: () => void): { requestId: number; done: Promise<Uint8Array | undefined> } {
    const requestId = this.#nextId++;
    const done = new Promise<Uint8Array | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(requestId, new ChartdError('CAPTURE_FAILED', `the worker did not finish the capture within ${Math.round(timeoutMs / 1000)} s`));
        onTimeout?.();
      }, timeoutMs);
      timer.unref();
      this.#pending.set(requestId, { workerId, resolve, reject, timer });
    });
    return { requestId, done };
  }

  #fail(requestId: number, error: ChartdError): void {
    this.#take(requestId)?.reject(error);
  }

  #take(requestId: number): Pending | undefined {
    const pending = this.#pending.get(requestId);
    if (!pending) return undefined;
    this.#pending.delete(requestId);
    clearTimeout(pending.timer);
    return pending;
  }
}

function exiting(slot: number): ChartdError {
  return new ChartdError('CAPTURE_FAILED', `worker ${slot} is exiting; retry in a moment`);
}
