import { ChartdError } from '../../errors.js';
import type { RenderJob } from '../job.js';
import { applyQuickChartTypes } from './quickchart-types.js';
import type { ChartJsRuntime, InlinePlugin } from './runtimes.js';
import { applyTickFormat } from './tick-format.js';
import { describe, isPlainRecord } from '../../values.js';

/**
 * Turns a validated user config into the config handed to Chart.js: QuickChart's
 * aliases, the options a server render needs (no animation, no responsiveness,
 * the job's devicePixelRatio), the background and the opt-in plugins. User
 * `plugins` arrays are dropped: inline plugins are code, and configs carry none.
 */
export function prepareChartConfig(job: RenderJob, runtime: ChartJsRuntime): Record<string, unknown> {
  const config = job.config;
  const options = ensureRecord(config, 'options', 'chart.options');
  normaliseType(config, options, runtime);
  applyQuickChartTypes(config, options, runtime.major);
  checkTypes(config, runtime);

  options.responsive = false;
  options.maintainAspectRatio = false;
  options.animation = false;
  options.devicePixelRatio = job.devicePixelRatio;
  options.events = [];

  const plugins: InlinePlugin[] = [];
  // Vector surfaces paint it themselves, first (renderOnce): SVG and PDF cannot draw `destination-over`.
  const vector = job.format === 'svg' || job.format === 'pdf';
  if (job.backgroundColor !== 'transparent' && !vector) plugins.push(createBackgroundPlugin(job.backgroundColor));
  for (const [id, plugin] of runtime.optInPlugins) {
    if (mentionsPlugin(config, options, id)) plugins.push(plugin);
  }
  if (runtime.major === 2) applyQuickChartV2Defaults(config, options);
  applyTickFormat(config, options, runtime.major);
  config.plugins = plugins;
  return config;
}

const ZERO_BASED_TYPES = new Set(['bar', 'horizontalBar', 'line', 'scatter', 'bubble']);

/**
 * What QuickChart does to every Chart.js 2 config, so its examples look the same
 * here: bars and lines start at zero when no scales are given, lines are straight,
 * and datalabels (0.7 registers itself for every chart) show only on pie and
 * doughnut unless configured. The Tableau 10 palette is set once in runtimes.ts.
 */
function applyQuickChartV2Defaults(config: Record<string, unknown>, options: Record<string, unknown>): void {
  const type = String(config.type);
  if (ZERO_BASED_TYPES.has(type) && options.scales === undefined) {
    options.scales = { [type === 'horizontalBar' ? 'xAxes' : 'yAxes']: [{ ticks: { beginAtZero: true } }] };
  }
  const datasets = ((config.data as Record<string, unknown>).datasets ?? []) as Array<Record<string, unknown>>;
  for (const dataset of datasets) {
    if ((dataset.type ?? type) === 'line') dataset.lineTension ??= 0;
  }
  const plugins = ensureRecord(options, 'plugins', 'chart.options.plugins');
  const outlabelsWanted = plugins.outlabels !== undefined || datasets.some((dataset) => dataset.outlabels !== undefined) || type.startsWith('outlabeled');
  // The outlabels plugin registers itself for every chart: off unless asked for,
  // and when asked for, default data labels step aside (QuickChart does both).
  if (!outlabelsWanted) for (const dataset of datasets) dataset.outlabels = { display: false };
  plugins.datalabels ??= { display: !outlabelsWanted && (type === 'pie' || type === 'doughnut') };
}

function normaliseType(config: Record<string, unknown>, options: Record<string, unknown>, runtime: ChartJsRuntime): void {
  if (config.type === 'donut') config.type = 'doughnut';
  const datasets = ((config.data as Record<string, unknown>).datasets ?? []) as Array<Record<string, unknown>>;
  // A mixed chart may type only its datasets: Chart.js 2 needs a chart type, the first dataset's.
  if (typeof config.type !== 'string' && runtime.major === 2) config.type = datasets[0]?.type;
  if (runtime.major >= 3 && config.type === 'horizontalBar') {
    // Chart.js 3 removed horizontalBar: the same chart is a bar with indexAxis 'y'.
    config.type = 'bar';
    options.indexAxis ??= 'y';
  }
}

function checkTypes(config: Record<string, unknown>, runtime: ChartJsRuntime): void {
  const types = new Map<string, string>(typeof config.type === 'string' ? [[config.type, 'chart.type']] : []);
  const datasets = ((config.data as Record<string, unknown>).datasets ?? []) as Array<Record<string, unknown>>;
  datasets.forEach((dataset, i) => {
    if (typeof dataset.type === 'string') types.set(dataset.type, `chart.data.datasets[${i}].type`);
  });
  for (const [type, path] of types) {
    if (!runtime.isKnownType(type)) {
      throw new ChartdError(
        'CHART_TYPE_UNKNOWN',
        `${path} "${type}" is not a chart type of Chart.js ${runtime.major}; use line, bar, pie, doughnut, radar, polarArea, scatter or bubble`,
      );
    }
  }
}

function mentionsPlugin(config: Record<string, unknown>, options: Record<string, unknown>, id: string): boolean {
  const plugins = options.plugins as Record<string, unknown> | undefined;
  if (plugins && plugins[id] !== undefined && plugins[id] !== false) return true;
  const datasets = ((config.data as Record<string, unknown>).datasets ?? []) as Array<Record<string, unknown>>;
  return datasets.some((dataset) => dataset[id] !== undefined);
}

function ensureRecord(parent: Record<string, unknown>, key: string, path: string): Record<string, unknown> {
  const value = parent[key];
  if (isPlainRecord(value)) return value;
  if (value !== undefined && value !== null) {
    throw new ChartdError('CONFIG_INVALID', `${path} must be an object, got ${describe(value)}`);
  }
  const created: Record<string, unknown> = {};
  parent[key] = created;
  return created;
}

interface DrawnChart {
  ctx: CanvasRenderingContext2DLike;
  width: number;
  height: number;
}

interface CanvasRenderingContext2DLike {
  save(): void;
  restore(): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  fillStyle: unknown;
  globalCompositeOperation: string;
}

/**
 * Fills the canvas behind the chart (Chart.js' own "canvas background" recipe):
 * `destination-over` puts it under whatever plugins drew before it in beforeDraw
 * (annotations with drawTime beforeDraw).
 */
function createBackgroundPlugin(color: string): InlinePlugin {
  return {
    id: 'chartd_background',
    beforeDraw(chart: DrawnChart) {
      const { ctx } = chart;
      ctx.save();
      ctx.globalCompositeOperation = 'destination-over';
      ctx.fillStyle = color;
      ctx.fillRect(0, 0, chart.width, chart.height);
      ctx.restore();
    },
  };
}
