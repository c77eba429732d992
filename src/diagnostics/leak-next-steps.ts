import type { LeakSignal, NativePixelKind } from './leak-monitor.js';

/**
 * The commands a leak verdict's log line gives, by what grew. One command first
 * that names the culprit from a single capture (the heap profile of what was
 * allocated after warm-up and is still held puts the allocating function on top
 * when a heap grows; the resources page lists the
 * worker's native objects by kind); then the diff that confirms it. Buffers and
 * native memory are not in V8's heap profile, so those verdicts point at what
 * does see them. Commands that may exit non-zero (diff) come last: the line joins
 * them with &&.
 */
export function leakNextSteps(adminUrl: string, signal: LeakSignal, slot: number | undefined, kind?: NativePixelKind): string[] {
  const worker = slot === undefined ? '' : `?worker=${slot}`;
  const profileUrl = `${adminUrl}/debug/pprof/heap${worker}`;
  const snapshotUrl = `${adminUrl}/debug/heapsnapshot${worker}`;
  const resources = `curl -s '${adminUrl}/debug/resources${worker}'`;
  const diff = [`curl -s -o heap-1.pb.gz '${profileUrl}'`, 'sleep 300', `curl -s -o heap-2.pb.gz '${profileUrl}'`, 'go tool pprof -top -diff_base heap-1.pb.gz heap-2.pb.gz'];
  /** Two reads of these /metrics lines a minute apart, and their diff. */
  const metricsDiff = (pattern: string) => {
    const read = (n: number) => `curl -s '${adminUrl}/metrics' | grep -E '${pattern}' > native-${n}.txt`;
    return { first: read(1), second: read(2), diff: 'diff native-1.txt native-2.txt' };
  };
  switch (signal) {
    case 'heap':
      // Growth since warm-up first: what start-up holds for good (modules, fonts) would outrank a young leak.
      return [`go tool pprof -top '${profileUrl}${worker ? '&' : '?'}since=warmup'`, ...diff, resources];
    case 'external':
      // The heap snapshot holds each ArrayBuffer with its retainers; the profile only the small JS wrappers.
      return [`go tool pprof -top -sample_index=inuse_objects '${profileUrl}'`, `curl -s -o external.heapsnapshot '${snapshotUrl}'`, resources];
    case 'native': {
      // The worker's live canvases or images: counted by kind (the resources page, the gauges), and
      // in a heap snapshot each is a small JS wrapper (CanvasElement, Image) whose retainers hold it.
      const label = `\\{worker="${slot ?? ''}",kind="${kind ?? 'canvas'}"\\}`;
      const reads = metricsDiff(`^chartd_worker_native_(objects|bytes)${label}`);
      return [
        resources,
        `curl -s -o native-1.heapsnapshot '${snapshotUrl}'`,
        reads.first,
        'sleep 60',
        reads.second,
        `curl -s -o native-2.heapsnapshot '${snapshotUrl}'`,
        reads.diff,
      ];
    }
    case 'rss': {
      // Heaps flat, RSS growing: native objects first (which kind, how many, growing?), chartd's leaked handles;
      // a heap profile cannot see native memory.
      const pattern =
        slot === undefined
          ? '^(process_resident_memory_bytes|chartd_leaked_handles_total)'
          : `^(chartd_worker_native_(objects|bytes)\\{worker="${slot}"|chartd_worker_resident_bytes\\{worker="${slot}"|chartd_leaked_handles_total)`;
      const reads = metricsDiff(pattern);
      return [resources, reads.first, 'sleep 60', reads.second, reads.diff];
    }
  }
}
