/** One sample of the Prometheus text format. */
export interface MetricSample {
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition into name → samples (comments skipped). */
export function parsePrometheusText(text: string): Map<string, MetricSample[]> {
  const metrics = new Map<string, MetricSample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    const list = metrics.get(match[1]!) ?? [];
    list.push({ labels, value: Number(match[3]) });
    metrics.set(match[1]!, list);
  }
  return metrics;
}

/** The value of an unlabelled metric (or the sum over its series), undefined when absent. */
export function metricValue(metrics: Map<string, MetricSample[]>, name: string, labels: Record<string, string> = {}): number | undefined {
  const samples = metrics.get(name)?.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (!samples || samples.length === 0) return undefined;
  return samples.reduce((sum, sample) => sum + sample.value, 0);
}

/** A labelled gauge as label value → value, e.g. chartd_worker_heap_used_bytes by `worker`. */
export function metricByLabel(metrics: Map<string, MetricSample[]>, name: string, label: string): Map<string, number> {
  const byLabel = new Map<string, number>();
  for (const sample of metrics.get(name) ?? []) {
    const key = sample.labels[label];
    if (key !== undefined) byLabel.set(key, sample.value);
  }
  return byLabel;
}

export async function scrapeMetrics(adminUrl: URL, timeoutMs = 5_000): Promise<Map<string, MetricSample[]>> {
  const response = await fetch(new URL('/metrics', adminUrl), { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${adminUrl}metrics answered ${response.status}`);
  return parsePrometheusText(await response.text());
}
