import type { ChartJsMajor } from './job.js';
import { isPlainRecord } from '../values.js';

/** QuickChart renders with Chart.js 2.9.4 unless told otherwise, and so does chartd. */
export const DEFAULT_CHARTJS_MAJOR: ChartJsMajor = 2;

const V3_PLUGIN_OPTIONS = ['legend', 'title', 'tooltip', 'subtitle'];
/** Types only chartd's Chart.js 2 has (QuickChart's own and its Chart.js 2 plugins'), and only 3+ has. */
const V2_ONLY_TYPES = new Set(['outlabeledPie', 'outlabeledDoughnut', 'radialGauge', 'gauge', 'sparkline', 'progressBar']);
const V3_ONLY_TYPES = new Set(['sankey']);

/**
 * The Chart.js major for a config sent without a version: 2 (QuickChart's default),
 * unless the config is unambiguously Chart.js 3+ syntax, which Chart.js 2 would
 * silently misdraw:
 *  - `options.scales` keyed by axis id (`x`, `y`, `r`, ...) with no `xAxes`/`yAxes`;
 *  - `options.indexAxis`;
 *  - `options.plugins.legend`, `.title`, `.tooltip` or `.subtitle` (moved there in 3).
 * A type that only one side has decides first (outlabeledPie, gauge, sparkline,
 * progressBar: 2; sankey: 4). Anything else, including configs with no options
 * at all, stays on 2.
 */
export function detectChartJsMajor(config: Record<string, unknown>): ChartJsMajor {
  const type = typeof config.type === 'string' ? config.type : undefined;
  if (type !== undefined && V2_ONLY_TYPES.has(type)) return 2;
  if (type !== undefined && V3_ONLY_TYPES.has(type)) return 4;
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
  return isPlainRecord(value) ? value : undefined;
}
