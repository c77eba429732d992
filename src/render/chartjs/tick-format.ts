import { ChartdError } from '../../errors.js';
import type { ChartJsMajor } from '../job.js';

type Json = Record<string, unknown>;

/**
 * QuickChart's `options.plugins.tickFormat`: number formatting for value axes
 * without writing a callback. It takes Intl.NumberFormat's options (`locale`,
 * `style`, `currency`, `unit`, `notation`, `minimumFractionDigits`,
 * `useGrouping`, ...) plus `prefix` and `suffix`; `applyToDataLabels` formats the
 * datalabels too. Axes that already have a tick callback keep it.
 */
export function applyTickFormat(config: Json, options: Json, major: ChartJsMajor): void {
  const plugins = options.plugins as Json | undefined;
  const spec = plugins?.tickFormat;
  if (spec === undefined || spec === null || spec === false) return;
  if (typeof spec !== 'object' || Array.isArray(spec)) {
    throw new ChartdError('CONFIG_INVALID', 'chart.options.plugins.tickFormat must be an object of Intl.NumberFormat options');
  }
  const { locale, prefix, suffix, applyToDataLabels, ...numberOptions } = spec as Json;
  let formatter: Intl.NumberFormat;
  try {
    formatter = new Intl.NumberFormat(typeof locale === 'string' ? locale : 'en-US', numberOptions as Intl.NumberFormatOptions);
  } catch (error) {
    throw new ChartdError('CONFIG_INVALID', `chart.options.plugins.tickFormat: ${(error as Error).message}`);
  }
  const affix = (text: string) => `${typeof prefix === 'string' ? prefix : ''}${text}${typeof suffix === 'string' ? suffix : ''}`;
  const format = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? affix(formatter.format(value)) : value);
  // Tick callbacks run on their scale: category and time axes keep their labels.
  const callback = function (this: { type?: string; getLabelForValue?(value: unknown): unknown } | undefined, value: unknown) {
    if (this?.type === 'category' || this?.type === 'time' || this?.type === 'timeseries') return major === 2 ? value : (this.getLabelForValue?.(value) ?? value);
    return format(value);
  };
  for (const axis of valueAxes(config, options, major)) {
    const ticks = (axis.ticks ??= {}) as Json;
    ticks.callback ??= callback;
  }
  if (applyToDataLabels === true) {
    const datalabels = (plugins!.datalabels ??= {}) as Json;
    datalabels.formatter = (value: unknown) => format(value);
  }
  delete plugins!.tickFormat;
}

/** The axes whose ticks are numbers, created when the config names none (Chart.js' default ones). */
function valueAxes(config: Json, options: Json, major: ChartJsMajor): Json[] {
  // Pies and doughnuts have no axes: making one would draw it.
  if (/^(pie|doughnut|outlabeledPie|outlabeledDoughnut)$/.test(String(config.type))) return [];
  const scales = (options.scales ??= {}) as Json;
  const horizontal = config.type === 'horizontalBar' || options.indexAxis === 'y';
  if (major === 2) {
    const key = horizontal ? 'xAxes' : 'yAxes';
    const list = Array.isArray(scales[key]) ? (scales[key] as Json[]) : ((scales[key] = [{}]) as Json[]);
    const radial = options.scale as Json | undefined;
    return [...list.filter((axis) => axis && typeof axis === 'object'), ...(radial && typeof radial === 'object' ? [radial] : [])];
  }
  const axes = Object.values(scales).filter((axis): axis is Json => axis !== null && typeof axis === 'object' && !Array.isArray(axis));
  if (axes.length > 0) return axes;
  const id = /^(radar|polarArea)$/.test(String(config.type)) ? 'r' : horizontal ? 'x' : 'y';
  return [(scales[id] = {}) as Json];
}
