import type { LeakSignal } from './leak-monitor.js';

/**
 * The commands a leak verdict's log line gives, by what grew. One command first
 * that names the culprit from a single capture (the heap profile puts the
 * allocating function on top when a heap grows); then the diff that confirms it.
 * Buffers and native memory are not in V8's heap profile, so those verdicts point
 * at what does see them.
 */
export function leakNextSteps(adminUrl: string, signal: LeakSignal, slot: number | undefined): string[] {
  const worker = slot === undefined ? '' : `?worker=${slot}`;
  const profileUrl = `${adminUrl}/debug/pprof/heap${worker}`;
  const snapshotUrl = `${adminUrl}/debug/heapsnapshot${worker}`;
  const resources = `curl -s '${adminUrl}/debug/resources'`;
  const diff = [`curl -s -o heap-1.pb.gz '${profileUrl}'`, 'sleep 300', `curl -s -o heap-2.pb.gz '${profileUrl}'`, 'go tool pprof -top -diff_base heap-1.pb.gz heap-2.pb.gz'];
  switch (signal) {
    case 'heap':
      return [`go tool pprof -top '${profileUrl}'`, ...diff, resources];
    case 'external':
      // The heap snapshot holds each ArrayBuffer with its retainers; the profile only the small JS wrappers.
      return [`go tool pprof -top -sample_index=inuse_objects '${profileUrl}'`, `curl -s -o external.heapsnapshot '${snapshotUrl}'`, resources];
    case 'rss':
      // Native memory: which process, whether chartd's handles leaked; a flat heap profile rules JavaScript out.
      return [resources, `curl -s '${adminUrl}/metrics' | grep -E '^chartd_(worker_resident_bytes|leaked_handles_total)'`, `go tool pprof -top '${profileUrl}'`];
  }
}
