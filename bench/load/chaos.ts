import { readFile } from 'node:fs/promises';
import type { ProcessTree } from './process-tree.js';

export interface ChaosOptions {
  /** Kills one worker; false when none could be killed (all being replaced). */
  killWorker(): Promise<boolean>;
  /** Fires on this period, ms... */
  intervalMs: number | undefined;
  /** ...or after every this many completed requests (a count: independent of the machine's speed). */
  everyRequests: number | undefined;
  /** oom configs sent per tick. */
  oomPerTick: number;
  /** Sends one oom config (outside the closed loop, so the valid load is not slowed by waiting for it). */
  sendOom(): Promise<void>;
  random(): number;
}

export interface ChaosStats {
  ticks: number;
  /** Workers killed (SIGKILL of a local worker process, or POST /debug/workers/N/terminate). */
  terminations: number;
  /** Ticks that found no worker to kill (every one being replaced) or failed. */
  terminateMisses: number;
  oomSent: number;
}

/**
 * Kills workers while the load runs: each tick kills a random worker (as the OOM
 * killer or a crash would) and sends oom configs, which blow their worker's heap.
 * What must hold meanwhile is checked by the caller from the outcomes.
 */
export class ChaosMonkey {
  readonly stats: ChaosStats = { ticks: 0, terminations: 0, terminateMisses: 0, oomSent: 0 };
  readonly #options: ChaosOptions;
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #nextAt: number;
  #stopped = false;

  constructor(options: ChaosOptions) {
    this.#options = options;
    this.#nextAt = options.everyRequests ?? Number.POSITIVE_INFINITY;
  }

  start(): void {
    if (this.#options.intervalMs !== undefined) this.#timer = setInterval(() => this.#tick(), this.#options.intervalMs);
  }

  /** Call with the completed count after each request, for `everyRequests`. */
  onCompleted(completed: number): void {
    if (completed < this.#nextAt) return;
    this.#nextAt = completed + this.#options.everyRequests!;
    this.#tick();
  }

  /** Stops ticking and waits for what it started (oom requests included). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending]);
  }

  #tick(): void {
    if (this.#stopped) return;
    this.stats.ticks++;
    this.#track(this.#killOne());
    for (let i = 0; i < this.#options.oomPerTick; i++) {
      this.stats.oomSent++;
      this.#track(this.#options.sendOom());
    }
  }

  #track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work));
  }

  async #killOne(): Promise<void> {
    let killed = false;
    try {
      killed = await this.#options.killWorker();
    } catch {
      // counted below
    }
    if (killed) this.stats.terminations++;
    else this.stats.terminateMisses++;
  }
}

/** SIGKILL of a random render worker process of a local chartd: the kernel's kill, nothing chartd is told of. */
export function killLocalWorker(tree: ProcessTree, random: () => number): () => Promise<boolean> {
  return async () => {
    const workers: number[] = [];
    for (const pid of await tree.children(true)) {
      const command = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
      if (command.startsWith('chartd-worker')) workers.push(pid);
    }
    if (workers.length === 0) return false;
    try {
      process.kill(workers[Math.floor(random() * workers.length)]!, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  };
}

/** A remote chartd: POST /debug/workers/N/terminate (also a SIGKILL) on a random slot, trying the others when it is being replaced. */
export function terminateRemoteWorker(adminUrl: URL, workers: number, random: () => number): () => Promise<boolean> {
  return async () => {
    const first = Math.floor(random() * workers);
    for (let i = 0; i < workers; i++) {
      const slot = (first + i) % workers;
      try {
        const response = await fetch(new URL(`/debug/workers/${slot}/terminate`, adminUrl), { method: 'POST', signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        if (response.status === 202) return true;
      } catch {
        // try the next slot
      }
    }
    return false;
  };
}
