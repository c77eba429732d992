import { ChartdError } from '../../errors.js';
import type { ChartJsMajor } from '../job.js';

type Json = Record<string, unknown>;

/**
 * QuickChart's own chart types, made of Chart.js ones as QuickChart does (its
 * lib/charts.js): `sparkline` (a bare line), `progressBar` (stacked horizontal
 * bars, out of 100 or of a second dataset). The user's options win over these
 * defaults. Other QuickChart types are Chart.js plugins (gauge, radialGauge,
 * outlabeledPie, sankey, ...): runtimes.ts registers them.
 */
export function applyQuickChartTypes(config: Json, options: Json, major: ChartJsMajor): void {
  if (config.type === 'sparkline') makeSparkline(config, options, major);
  else if (config.type === 'progressBar') makeProgressBar(config, options, major);
}

function datasetsOf(config: Json): Json[] {
  const data = config.data as Json;
  data.datasets ??= [];
  return data.datasets as Json[];
}

function makeSparkline(config: Json, options: Json, major: ChartJsMajor): void {
  const datasets = datasetsOf(config);
  if (datasets.length < 1) throw new ChartdError('CONFIG_INVALID', 'a sparkline needs one dataset (chart.data.datasets[0].data)');
  config.type = 'line';
  const series = Array.isArray(datasets[0]!.data) ? (datasets[0]!.data as unknown[]) : [];
  const data = config.data as Json;
  data.labels ??= Array.from({ length: series.length }, () => '');
  const elements = (options.elements ??= {}) as Json;
  elements.line ??= { borderColor: '#000', borderWidth: 1 };
  elements.point ??= { radius: 0 };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const value of series) {
    if (typeof value !== 'number') continue;
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  // QuickChart pads the range by 5 % so the line is not shaved at the edges.
  const bounds = Number.isFinite(min) ? { min: min - min * 0.05, max: max + max * 0.05 } : {};
  const scales = (options.scales ??= {}) as Json;
  if (major === 2) {
    options.legend ??= { display: false };
    scales.xAxes ??= [{ display: false }];
    scales.yAxes ??= [{ display: false, ticks: bounds }];
  } else {
    const plugins = (options.plugins ??= {}) as Json;
    plugins.legend ??= { display: false };
    scales.x ??= { display: false };
    scales.y ??= { display: false, ...bounds };
  }
}

function makeProgressBar(config: Json, options: Json, major: ChartJsMajor): void {
  const datasets = datasetsOf(config);
  if (datasets.length < 1 || datasets.length > 2) throw new ChartdError('CONFIG_INVALID', 'a progressBar takes 1 dataset (percentages) or 2 (values and their totals)');
  const length = Array.isArray(datasets[0]!.data) ? (datasets[0]!.data as unknown[]).length : 0;
  const percentages = datasets.length === 1;
  if (percentages) datasets.push({ data: Array.from({ length }, () => 100) });
  const total = datasets[1]!;
  if (!Array.isArray(total.data) || total.data.length !== length) {
    throw new ChartdError('CONFIG_INVALID', 'the two datasets of a progressBar must have as many values');
  }
  const data = config.data as Json;
  data.labels = Array.isArray(config.labels) ? config.labels : Array.from({ length }, (_, i) => i);
  total.backgroundColor ??= '#fff';
  total.borderColor ??= '#4e78a7'; // Tableau 10's first colour, QuickChart's default
  total.borderWidth ??= 1;
  const datalabels = {
    color: '#fff',
    formatter: (value: unknown) => (percentages ? `${String(value)}%` : value),
    display: (context: { datasetIndex?: number }) => context.datasetIndex === 0,
  };
  const hiddenGrid = { display: false, drawTicks: false };
  let defaults: Json;
  if (major === 2) {
    config.type = 'horizontalBar';
    defaults = {
      legend: { display: false },
      scales: {
        xAxes: [{ ticks: { display: false, beginAtZero: true }, gridLines: hiddenGrid }],
        yAxes: [{ stacked: true, ticks: { display: false }, gridLines: { ...hiddenGrid, mirror: true } }],
      },
      plugins: { datalabels },
    };
  } else {
    config.type = 'bar';
    defaults = {
      indexAxis: 'y',
      scales: {
        x: { beginAtZero: true, ticks: { display: false }, grid: hiddenGrid },
        y: { stacked: true, ticks: { display: false }, grid: hiddenGrid },
      },
      plugins: { legend: { display: false }, datalabels },
    };
  }
  mergeDefaults(options, defaults);
}

/** Fills `target` with `defaults` where it has nothing: the user's options win, arrays whole. */
function mergeDefaults(target: Json, defaults: Json): void {
  for (const [key, value] of Object.entries(defaults)) {
    const current = target[key];
    if (current === undefined) target[key] = value;
    else if (isPlain(current) && isPlain(value)) mergeDefaults(current, value);
  }
}

function isPlain(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
