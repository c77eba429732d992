import { readdirSync, readFileSync } from 'node:fs';

/**
 * The process tree as the OS sees it, read from /proc independently of chartd's
 * own reader, so that tests check the pool against the kernel, not against itself.
 */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** /proc/<pid>/cmdline with NULs as spaces (a worker's is its title, chartd-worker-N). */
  command: string;
  state: string;
  cpuSeconds: number;
  rssBytes: number;
}

export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const command = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
    return {
      pid,
      ppid: Number(fields[1]),
      command,
      state: fields[0]!,
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
      rssBytes: rssKb * 1024,
    };
  } catch {
    return undefined;
  }
}

/** Live (not zombie) children of a process. */
export function childProcesses(ppid: number): ProcessInfo[] {
  const children: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info && info.ppid === ppid && info.state !== 'Z') children.push(info);
  }
  return children;
}

/** The render worker processes of a chartd whose main process is `ppid`. */
export function renderWorkers(ppid: number): ProcessInfo[] {
  return childProcesses(ppid).filter((child) => child.command.startsWith('chartd-worker'));
}

export function isAlive(pid: number): boolean {
  const info = readProcess(pid);
  return info !== undefined && info.state !== 'Z';
}

/** CPU seconds used by a set of processes over `ms`; processes that are gone count 0. */
export async function cpuSecondsOver(pids: () => number[], ms: number): Promise<number> {
  const before = new Map(pids().map((pid) => [pid, readProcess(pid)?.cpuSeconds ?? 0]));
  await new Promise((resolve) => setTimeout(resolve, ms));
  let used = 0;
  for (const pid of new Set([...before.keys(), ...pids()])) {
    const now = readProcess(pid)?.cpuSeconds;
    if (now !== undefined) used += now - (before.get(pid) ?? 0);
  }
  return used;
}

/** RSS of a process and all its render workers. */
export function treeRssBytes(pid: number): number {
  return (readProcess(pid)?.rssBytes ?? 0) + renderWorkers(pid).reduce((sum, worker) => sum + worker.rssBytes, 0);
}
