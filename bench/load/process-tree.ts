import { readdir, readFile } from 'node:fs/promises';

/**
 * A local server's process tree from /proc: chartd's render workers are child
 * processes, so the memory a machine gives chartd is the main process's RSS plus
 * its children's. Child pids are looked up at most once a second (a /proc scan);
 * RSS is read on every call.
 */
export class ProcessTree {
  readonly pid: number;
  #children: number[] = [];
  #scannedAt = 0;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Current child pids (rescanned when older than a second, or when asked). */
  async children(fresh = false): Promise<number[]> {
    if (fresh || Date.now() - this.#scannedAt > 1000) {
      this.#children = await findChildren(this.pid);
      this.#scannedAt = Date.now();
    }
    return this.#children;
  }

  /** RSS of the process alone and with its children, bytes; undefined once the process is gone. */
  async rss(): Promise<{ mainBytes: number; treeBytes: number } | undefined> {
    const main = await readProcRss(this.pid);
    if (main === undefined) return undefined;
    let total = main;
    for (const child of await this.children()) total += (await readProcRss(child)) ?? 0;
    return { mainBytes: main, treeBytes: total };
  }
}

/**
 * Proportional set size of the process and its children: shared pages (the node
 * binary, Skia, fonts) divided among the processes that map them, so the sum is
 * what the tree really occupies. RSS counts shared pages once per process and
 * overstates a tree of workers. Reads smaps_rollup: too costly to poll, fine to sample.
 */
export async function readTreePss(tree: ProcessTree): Promise<number | undefined> {
  const read = async (pid: number) => {
    try {
      const match = /^Pss:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'));
      return match ? Number(match[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  };
  const main = await read(tree.pid);
  if (main === undefined) return undefined;
  let total = main;
  for (const child of await tree.children(true)) total += (await read(child)) ?? 0;
  return total;
}

async function findChildren(ppid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && fields[0] !== 'Z') children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** VmRSS of a process, bytes; undefined once it is gone. */
export async function readProcRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
