import type { ChartJsMajor } from './job.js';

/** QuickChart renders with Chart.js 2.9.4 unless told otherwise, and so does chartd. */
export const DEFAULT_CHARTJS_MAJOR: ChartJsMajor = 2;

const V3_PLUGIN_OPTIONS = ['legend', 'title', 'tooltip', 'subtitle'];

/**
 * The Chart.js major for a config sent without a version: 2 (QuickChart's default),
 * unless the config is unambiguously Chart.js 3+ syntax, which Chart.js 2 would
 * silently misdraw:
 *  - `options.scales` keyed by axis id (`x`, `y`, `r`, ...) with no `xAxes`/`yAxes`;
 *  - `options.indexAxis`;
 *  - `options.plugins.legend`, `.title`, `.tooltip` or `.subtitle` (moved there in 3).
 * Anything else, including configs with no options at all, stays on 2.
 */
export function detectChartJsMajor(config: Record<string, unknown>): ChartJsMajor {
  const options = asRecord(config.options);
  if (!options) return DEFAULT_CHARTJS_MAJOR;
  const scales = asRecord(options.scales);
  if (scales) {
    const keys = Object.keys(scales);
    const legacy = keys.includes('xAxes') || keys.includes('yAxes');
    if (!legacy && keys.some((key) => asRecord(scales[key]) !== undefined)) return 4;
  }
  if (options.indexAxis !== undefined) return 4;
  const plugins = asRecord(options.plugins);
  if (plugins && V3_PLUGIN_OPTIONS.some((key) => plugins[key] !== undefined)) return 4;
  return DEFAULT_CHARTJS_MAJOR;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
