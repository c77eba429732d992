import { existsSync, readFileSync } from 'node:fs';

/** What the OS says a process uses: what cannot be hidden from it, native memory included. */
export interface ProcessUsage {
  /** Resident set size (VmRSS). */
  rssBytes: number;
  /** User plus system CPU time since the process started. */
  cpuSeconds: number;
}

/** USER_HZ: the unit of /proc/<pid>/stat times, fixed at 100 by the Linux ABI. */
const CLOCK_TICKS_PER_SECOND = 100;

/** /proc is Linux's; elsewhere workers report their own RSS and no render is killed mid-way for memory. */
export const PROCESS_USAGE_AVAILABLE = existsSync('/proc/self/status') && existsSync('/proc/self/stat');

/**
 * Reads a process's resident memory and CPU time from /proc. Undefined when the
 * process is gone (or a zombie), when /proc is absent, or when the read fails
 * (e.g. EMFILE): a caller samples again later, it never throws.
 */
export function readProcessUsage(pid: number): ProcessUsage | undefined {
  if (!PROCESS_USAGE_AVAILABLE) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    if (rssKb === undefined) return undefined;
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (field 14) + stime (field 15)
    return { rssBytes: Number(rssKb) * 1024, cpuSeconds: Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : 0 };
  } catch {
    return undefined;
  }
}
