import { createCanvas } from '@napi-rs/canvas';
import type { ChartJsMajor } from '../job.js';
import { DEFAULT_FONT_FAMILY } from '../fonts.js';
import { requireCjs, requireWithChartJs } from './require-with-chartjs.js';

/** The part of a Chart.js chart instance chartd touches. */
export interface ChartInstance {
  destroy(): void;
}

/** What a plugin object looks like to Chart.js 2, 3 and 4 alike. */
export interface InlinePlugin {
  id: string;
  [hook: string]: unknown;
}

/**
 * One Chart.js major with its plugins, loaded once per thread. Chart.js keeps a
 * process-wide registry (`Chart.instances`) of every chart not destroyed: the
 * leak chartd exists to prevent. `countInstances()` lets tests assert it is empty.
 */
export interface ChartJsRuntime {
  readonly major: ChartJsMajor;
  readonly packageName: string;
  createChart(canvas: unknown, config: Record<string, unknown>): ChartInstance;
  countInstances(): number;
  isKnownType(type: string): boolean;
  /** Plugins activated per chart, only when the config asks for them. */
  readonly optInPlugins: ReadonlyMap<string, InlinePlugin>;
}

type ChartConstructor = new (item: unknown, config: Record<string, unknown>) => ChartInstance;

interface ModernChartJs {
  Chart: ChartConstructor & {
    register(...items: unknown[]): void;
    instances: Record<string, unknown>;
    defaults: { font: { family: string } };
    registry: { getController(id: string): unknown };
  };
  registerables: unknown[];
}

interface LegacyChartJs extends ChartConstructor {
  instances: Record<string, unknown>;
  controllers: Record<string, unknown>;
  defaults: { global: { defaultFontFamily: string; plugins: Record<string, unknown> } };
}

function loadModern(major: 3 | 4): ChartJsRuntime {
  const packageName = major === 4 ? 'chart.js' : 'chartjs-v3';
  // Chart.js 4's CommonJS build exports { Chart, registerables }; 3's UMD build
  // exports Chart itself, with everything already registered.
  const exported = requireCjs(packageName) as ModernChartJs | ModernChartJs['Chart'];
  const Chart = 'Chart' in exported ? exported.Chart : exported;
  if ('registerables' in exported) Chart.register(...exported.registerables);
  // Time axes: the moment adapter (QuickChart's choice) registers itself into this
  // Chart.js' _adapters. Chart.js 2 bundles its own moment adapter.
  requireWithChartJs(packageName, 'chartjs-adapter-moment');
  const annotation = requireWithChartJs<InlinePlugin>(
    packageName,
    major === 4 ? 'chartjs-plugin-annotation' : 'chartjs-plugin-annotation-v1',
  );
  // Annotation draws nothing unless configured, so it is safe to register for all charts.
  Chart.register(annotation);
  if (major === 4) {
    // Box plots and violins (the maintained successor of QuickChart's Chart.js 2 plugin).
    const boxplot = requireWithChartJs<Record<string, unknown>>(packageName, '@sgratzl/chartjs-chart-boxplot');
    Chart.register(boxplot.BoxPlotController, boxplot.BoxAndWiskers, boxplot.ViolinController, boxplot.Violin);
  }
  // Sankey diagrams (QuickChart's "sankey" type, the maintained chartjs-chart-sankey).
  const sankey = requireWithChartJs<Record<string, unknown>>(packageName, 'chartjs-chart-sankey');
  Chart.register(sankey.SankeyController, sankey.Flow);
  const datalabels = requireWithChartJs<InlinePlugin>(packageName, 'chartjs-plugin-datalabels');
  Chart.defaults.font.family = DEFAULT_FONT_FAMILY;
  return {
    major,
    packageName,
    createChart: (canvas, config) => constructOwned(Chart, canvas, config),
    countInstances: () => Object.keys(Chart.instances).length,
    isKnownType(type) {
      try {
        Chart.registry.getController(type);
        return true;
      } catch {
        return false;
      }
    },
    optInPlugins: new Map([['datalabels', datalabels]]),
  };
}

/**
 * Chart.js 2 tests colours with `instanceof CanvasGradient` / `CanvasPattern`,
 * and chartjs-gauge reads `CanvasRenderingContext2D`: globals a browser has and
 * Node lacks; Skia's classes stand in.
 */
function defineCanvasGlobals(): void {
  const globals = globalThis as Record<string, unknown>;
  const canvas = createCanvas(1, 1);
  const ctx = canvas.getContext('2d');
  globals.CanvasGradient ??= ctx.createLinearGradient(0, 0, 1, 1).constructor;
  // chartjs-gauge polyfills `ellipse` on it when it loads (Skia's context has it).
  globals.CanvasRenderingContext2D ??= ctx.constructor;
  globals.CanvasPattern ??= ctx.createPattern(canvas, 'repeat')?.constructor;
}

function loadLegacy(): ChartJsRuntime {
  const packageName = 'chartjs-v2';
  defineCanvasGlobals();
  const Chart = requireCjs(packageName) as LegacyChartJs;
  // Chart.js 2 plugins of this era register themselves globally when loaded.
  requireWithChartJs(packageName, 'chartjs-plugin-colorschemes');
  requireWithChartJs(packageName, 'chartjs-plugin-datalabels-v0');
  requireWithChartJs(packageName, 'chartjs-plugin-annotation-v0');
  // QuickChart's further Chart.js 2 set: outlabeledPie/outlabeledDoughnut, the
  // doughnut centre label, radialGauge, gauge, and boxplot/violin (+ horizontal) types.
  // The outlabels plugin reads a global `Chart` when it loads and when it draws, as
  // QuickChart provides; in this thread that is Chart.js 2 (3 and 4 never read it).
  (globalThis as Record<string, unknown>).Chart = Chart;
  requireWithChartJs(packageName, 'chartjs-plugin-piechart-outlabels');
  requireWithChartJs(packageName, 'chartjs-plugin-doughnutlabel');
  requireWithChartJs(packageName, 'chartjs-chart-radial-gauge');
  requireWithChartJs(packageName, 'chartjs-chart-box-and-violin-plot');
  // QuickChart's "gauge" type (chartjs-gauge: a needle over a half doughnut).
  requireWithChartJs(packageName, 'chartjs-gauge');
  Chart.defaults.global.defaultFontFamily = DEFAULT_FONT_FAMILY;
  // QuickChart's default palette for Chart.js 2 (Tableau 10), so its examples look the same.
  const colorschemes = Chart.defaults.global.plugins.colorschemes as { scheme: string };
  colorschemes.scheme = 'tableau.Tableau10';
  return {
    major: 2,
    packageName,
    createChart: (canvas, config) => constructOwned(Chart, canvas, config),
    countInstances: () => Object.keys(Chart.instances).length,
    isKnownType: (type) => Object.hasOwn(Chart.controllers, type),
    optInPlugins: new Map(),
  };
}

/**
 * `new Chart()` registers the instance in `Chart.instances` before it lays out
 * and draws; a config that throws there leaves an instance the caller never got
 * and so cannot destroy. Destroy whatever the failed constructor registered.
 */
function constructOwned(
  Chart: ChartConstructor & { instances: Record<string, unknown> },
  canvas: unknown,
  config: Record<string, unknown>,
): ChartInstance {
  const before = new Set(Object.keys(Chart.instances));
  try {
    return new Chart(canvas, config);
  } catch (error) {
    for (const id of Object.keys(Chart.instances)) {
      if (before.has(id)) continue;
      try {
        (Chart.instances[id] as ChartInstance).destroy();
      } catch {
        // A half-built chart may fail to destroy; it must still leave the registry.
      } finally {
        delete Chart.instances[id];
      }
    }
    throw error;
  }
}

const runtimes = new Map<ChartJsMajor, ChartJsRuntime>();

/** The runtime for a major, loaded on first use (each costs ~10 MB of heap). */
export function getChartJsRuntime(major: ChartJsMajor): ChartJsRuntime {
  let runtime = runtimes.get(major);
  if (!runtime) {
    runtime = major === 2 ? loadLegacy() : loadModern(major);
    runtimes.set(major, runtime);
  }
  return runtime;
}

/** Live chart instances over every loaded major: 0 after any render, success or failure. */
export function countLiveCharts(): number {
  let count = 0;
  for (const runtime of runtimes.values()) count += runtime.countInstances();
  return count;
}
