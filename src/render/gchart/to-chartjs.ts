import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';
import { setAxes, setGridLines } from './axes.js';
import type { Axis, ChartConfig, ChartType, Options, Params } from './chart-config.js';
import { configFunction } from './config-text.js';
import { definedOnly, hexColor, nonNegativeNumber, positiveNumber } from './param-values.js';
import { parseSeriesData, type Series } from './series-data.js';

/**
 * Google Image Charts parameters to a Chart.js 2 config, as QuickChart converts
 * them (docs/API.md, "Google Image Charts" lists every parameter and where chartd
 * goes further). Functions the config needs (labels on points, axis labels and
 * number formats) are ConfigFunctions: the config is rendered as JavaScript text
 * in the render sandbox, like any config, and `format=chartjs-config` returns it.
 */
export interface ConvertedChart {
  width: number;
  height: number;
  backgroundColor: string;
  config: ChartConfig;
}

/** Google's default series colours, as QuickChart uses them. */
const COLOR_WHEEL = ['#4D89F9', '#00B88A', 'red', 'purple', 'yellow', 'brown'];

interface TypeSpec {
  type: ChartType;
  /** Axes shown without chxt (only bvo's are). */
  axesShown: boolean;
  stackedX: boolean;
  stackedY: boolean;
  /** Line charts keep their axis lines but no grid (QuickChart's lc). */
  lineGrid?: boolean;
}

const TYPES: ReadonlyMap<string, TypeSpec> = new Map([
  ['bhs', { type: 'horizontalBar', axesShown: false, stackedX: true, stackedY: true }],
  ['bvs', { type: 'bar', axesShown: false, stackedX: true, stackedY: true }],
  ['bvo', { type: 'bar', axesShown: true, stackedX: true, stackedY: false }],
  ['bhg', { type: 'horizontalBar', axesShown: false, stackedX: false, stackedY: false }],
  ['bvg', { type: 'bar', axesShown: false, stackedX: false, stackedY: false }],
  ['lc', { type: 'line', axesShown: false, stackedX: false, stackedY: false, lineGrid: true }],
  ['lc:nda', { type: 'line', axesShown: false, stackedX: false, stackedY: false, lineGrid: true }],
  ['ls', { type: 'line', axesShown: false, stackedX: false, stackedY: false }],
  ['lxy', { type: 'scatter', axesShown: false, stackedX: false, stackedY: false, lineGrid: true }],
  ['p', { type: 'pie', axesShown: false, stackedX: false, stackedY: false }],
  ['p3', { type: 'pie', axesShown: false, stackedX: false, stackedY: false }],
  ['pc', { type: 'pie', axesShown: false, stackedX: false, stackedY: false }],
]);

export const GCHART_TYPES = [...TYPES.keys(), 'qr'];

export function toChartJs(params: Params): ConvertedChart {
  const cht = (params.cht ?? '').trim();
  if (cht === '') throw new ChartdError('GCHART_INVALID', `cht is required: the chart type, one of ${GCHART_TYPES.join(', ')}`);
  const spec = TYPES.get(cht);
  if (!spec) {
    throw new ChartdError('CHART_TYPE_UNKNOWN', `cht "${truncate(cht, 16)}" is not a Google Image Charts type chartd draws; use one of ${GCHART_TYPES.join(', ')}`);
  }
  const { width, height } = parseChartSize(params.chs, { width: 500, height: 300 });
  const series = parseSeriesData(params.chd, params.chds);
  const config = baseConfig(spec);
  setData(config, spec, series);
  setTitle(config, params.chtt, params.chts);
  setLegend(config, params.chdl, params.chdlp, params.chdls);
  setMargins(config, params.chma);
  setColors(config, params.chco);
  setAxes(config, params);
  setGridLines(config, params.chg);
  setPointLabels(config, params.chl, params.chm);
  setFills(config, params.chm);
  setLineStyles(config, params.chls);
  setBarWidth(config, params.chbh);
  return { width, height, backgroundColor: parseBackground(params.chf), config };
}

/** `chs=WIDTHxHEIGHT`; the caller bounds the numbers. */
export function parseChartSize(chs: string | undefined, fallback: { width: number; height: number }): { width: number; height: number } {
  if (chs === undefined || chs.trim() === '') return fallback;
  const match = /^\s*(\d+)\s*[xX]\s*(\d+)\s*$/.exec(chs);
  if (!match) throw new ChartdError('PARAM_INVALID', `chs must be WIDTHxHEIGHT in pixels, e.g. 500x300, got "${truncate(chs, 32)}"`);
  return { width: Number(match[1]), height: Number(match[2]) };
}

function baseConfig(spec: TypeSpec): ChartConfig {
  const config: ChartConfig = { type: spec.type, data: { datasets: [] }, options: { plugins: {} } };
  if (spec.type === 'pie') {
    config.options.plugins.datalabels = { display: false };
    return config;
  }
  const axis = (stacked: boolean, extra: Options = {}): Axis => ({
    display: spec.axesShown,
    ...(stacked ? { stacked: true } : {}),
    gridLines: spec.lineGrid ? { drawOnChartArea: false, drawTicks: false } : { display: false },
    ticks: {},
    ...extra,
  });
  const valueTicks = { ticks: { beginAtZero: true } };
  config.options.scales = {
    xAxes: [axis(spec.stackedX, spec.type === 'horizontalBar' || spec.type === 'scatter' ? valueTicks : {})],
    yAxes: [axis(spec.stackedY, spec.type === 'horizontalBar' ? {} : valueTicks)],
  };
  if (spec.type === 'scatter') config.options.scales.xAxes[0]!.type = 'linear';
  return config;
}

function setData(config: ChartConfig, spec: TypeSpec, series: Series[]): void {
  const isPie = spec.type === 'pie';
  const style = (index: number): Options =>
    isPie ? {} : { fill: false, backgroundColor: COLOR_WHEEL[index % COLOR_WHEEL.length], borderColor: COLOR_WHEEL[index % COLOR_WHEEL.length], borderWidth: 2, pointRadius: 0 };
  if (spec.type === 'scatter') {
    // lxy: series come in pairs, x values then y values; an x series of just -1 means evenly spaced.
    for (let i = 0; i + 1 < series.length; i += 2) {
      const xs = series[i]!;
      const ys = series[i + 1]!;
      const evenlySpaced = xs.length === 1 && xs[0] === -1;
      const data = ys.map((y, index) => ({ x: evenlySpaced ? index : (xs[index] ?? index), y }));
      config.data.datasets.push({ ...style(i / 2), showLine: true, data: data.filter((point): point is { x: number; y: number | null } => point.x !== null) });
    }
    return;
  }
  const longest = Math.max(0, ...series.map((values) => values.length));
  config.data.labels = Array.from({ length: longest }, (_, index) => index);
  config.data.datasets = series.map((values, index) => ({ ...style(index), data: values }));
  // Google draws the first series of a concentric pie innermost; Chart.js draws its first outermost.
  if (isPie) config.data.datasets.reverse();
}

function setTitle(config: ChartConfig, chtt: string | undefined, chts: string | undefined): void {
  if (!chtt) return;
  const [color, size] = (chts ?? '').split(',');
  config.options.title = {
    display: true,
    text: chtt.split('|'),
    ...(color ? { fontColor: hexColor('chts', color) } : {}),
    ...(size ? { fontSize: positiveNumber('chts', size) } : {}),
  };
}

const LEGEND_POSITIONS: ReadonlyMap<string, Options> = new Map([
  ['b', { position: 'bottom' }],
  ['t', { position: 'top' }],
  ['r', { position: 'right', align: 'start' }],
  ['l', { position: 'left', align: 'start' }],
]);

function setLegend(config: ChartConfig, chdl: string | undefined, chdlp: string | undefined, chdls: string | undefined): void {
  if (!chdl) {
    config.options.legend = { display: false };
    return;
  }
  const labels = chdl.split('|');
  if (config.type === 'pie') {
    // A pie's legend lists its slices.
    config.data.labels = labels;
  } else {
    config.data.datasets.forEach((dataset, index) => {
      if (labels[index] !== undefined) dataset.label = labels[index];
    });
  }
  const position = LEGEND_POSITIONS.get((chdlp ?? 'r').trim().charAt(0)) ?? LEGEND_POSITIONS.get('r')!;
  config.options.legend = { display: true, ...position, labels: { boxWidth: 10 } };
  if (chdls) {
    const [color, size] = chdls.split(',');
    if (color) config.options.legend.labels.fontColor = hexColor('chdls', color);
    if (size) config.options.legend.labels.fontSize = positiveNumber('chdls', size);
  }
}

function setMargins(config: ChartConfig, chma: string | undefined): void {
  const padding = { left: 0, right: 0, top: 10, bottom: 0 };
  if (chma) {
    const [left, right, top, bottom] = (chma.split('|')[0] ?? '').split(',').map((value) => nonNegativeNumber('chma', value));
    Object.assign(padding, definedOnly({ left, right, top, bottom }));
  }
  config.options.layout = { padding };
}

function setColors(config: ChartConfig, chco: string | undefined): void {
  if (!chco) return;
  const perSeries = chco.split(',').map((entry) => entry.split('|').map((color) => hexColor('chco', color)));
  const datasets = config.data.datasets;
  // A pie of one series takes the comma-separated list as its slices' colours, as Google does.
  if (config.type === 'pie' && datasets.length === 1 && perSeries.length > 1) {
    datasets[0]!.backgroundColor = perSeries.map((colors) => colors[0]);
    return;
  }
  datasets.forEach((dataset, index) => {
    const colors = perSeries[config.type === 'pie' ? datasets.length - 1 - index : index];
    if (!colors) return;
    const color = colors.length > 1 || config.type === 'pie' ? colors : colors[0];
    dataset.backgroundColor = color;
    dataset.borderColor = color;
  });
}

/**
 * `chl` labels each point, counted across the series in order; `chm=N,...` markers
 * show the values of the series they name. Both draw with chartjs-plugin-datalabels.
 */
function setPointLabels(config: ChartConfig, chl: string | undefined, chm: string | undefined): void {
  const labels = chl ? chl.split('|').map((label) => label.replace(/\\n/g, '\n')) : [];
  const valueMarkers = (chm ?? '').split('|').map((rule) => rule.split(',')).filter(([type]) => type?.startsWith('N'));
  if (labels.length === 0 && valueMarkers.length === 0) return;
  const offsets: number[] = [];
  let offset = 0;
  for (const dataset of config.data.datasets) {
    offsets.push(offset);
    offset += dataset.data.length;
  }
  const valueSeries = valueMarkers.map(([, , series]) => Number(series)).filter(Number.isInteger);
  const [, markerColor, , , markerSize] = valueMarkers[0] ?? [];
  const hidden = valueMarkers.length > 0 && valueMarkers.every((marker) => Number(marker[4]) === 0);
  config.options.plugins.datalabels = {
    display: !hidden,
    color: markerColor ? hexColor('chm', markerColor) : '#000',
    font: { size: markerSize && Number(markerSize) > 0 ? positiveNumber('chm', markerSize) : labels.length > 0 ? 14 : 10, weight: labels.length > 0 ? 'normal' : 'bold' },
    ...(labels.length > 0 ? {} : { anchor: 'end', align: 'end', offset: 0 }),
    formatter: configFunction(
      'value, context',
      { labels, offsets, valueSeries },
      `var label = labels[offsets[context.datasetIndex] + context.dataIndex];
    if (label) return label;
    return valueSeries.indexOf(context.datasetIndex) === -1 ? '' : value;`,
    ),
  };
}

/** `chm=B,<color>,<series>,...`: the area under a line, filled. */
function setFills(config: ChartConfig, chm: string | undefined): void {
  for (const rule of (chm ?? '').split('|')) {
    const [type, color, series] = rule.split(',');
    if (type !== 'B' && type !== 'b') continue;
    const dataset = config.data.datasets[Number(series ?? 0)];
    if (!dataset || !color) continue;
    dataset.fill = true;
    dataset.backgroundColor = hexColor('chm', color);
  }
}

/** `chls=<thickness>[,<dash>,<space>]|...`, one entry a series. */
function setLineStyles(config: ChartConfig, chls: string | undefined): void {
  if (!chls) return;
  chls.split('|').forEach((entry, index) => {
    const dataset = config.data.datasets[index];
    if (!dataset) return;
    const [thickness, dash, space] = entry.split(',').map((value) => nonNegativeNumber('chls', value));
    if (thickness !== undefined) dataset.borderWidth = thickness;
    if (dash !== undefined && dash > 0) dataset.borderDash = [dash, space ?? dash];
  });
}

/** `chbh=<bar width>[,...]`; `a` and `r` (automatic) keep Chart.js's widths. */
function setBarWidth(config: ChartConfig, chbh: string | undefined): void {
  if (!chbh || (config.type !== 'bar' && config.type !== 'horizontalBar')) return;
  const first = chbh.split(',')[0]!.trim();
  if (first === 'a' || first === 'r' || first === '') return;
  const width = positiveNumber('chbh', first);
  for (const dataset of config.data.datasets) dataset.barThickness = width;
}

/** `chf=bg,s,<color>` (or `a,s,<color with alpha>`): the background; gradients and stripes are drawn white. */
function parseBackground(chf: string | undefined): string {
  if (!chf) return '#ffffff';
  for (const fill of chf.split('|')) {
    const [area, kind, color] = fill.split(',');
    if ((area === 'bg' || area === 'a') && kind === 's' && color) {
      const hex = hexColor('chf', color);
      // `a`: transparency of the whole image, given as the alpha of the colour.
      return area === 'a' ? `#ffffff${hex.length === 9 ? hex.slice(7) : 'ff'}` : hex;
    }
  }
  return '#ffffff';
}
