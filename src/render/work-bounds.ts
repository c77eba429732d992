import { ChartdError } from '../errors.js';
import type { ChartJsMajor, RenderJob } from './job.js';
import type { RenderLimits } from './limits.js';
import { estimateTimeTicks } from './time-ticks.js';
import { checkChartTypeWork } from './work-bounds-types.js';
import { extent, largest, number, PIE_LIKE, record, switchedOff, type Axis, type ChartShape, type DrawnLabels, type DrawnTexts, type Json } from './work-bounds-util.js';

/**
 * The work a small config can ask for, predicted from the config Chart.js is
 * about to get and refused before anything is drawn. The input bounds (points,
 * datasets, bytes) do not bound it: 190 bytes asked Chart.js 2 for 10^12 ticks,
 * a 50,000-slice pie held a worker for 148 s, a dash pattern of [0.001, 0.001]
 * kept Skia busy for 45 s. Estimates err on the generous side: a chart a reader
 * could read is never refused (bench/RESULTS.md, "Work bounds").
 */
export function checkRenderWork(config: Record<string, unknown>, major: ChartJsMajor, job: RenderJob, limits: RenderLimits): void {
  const chart = describeChart(config, major);
  const texts: DrawnTexts = { ticks: 0, labels: [], dataLabels: 0, legend: 0 };
  for (const axis of chart.axes) {
    const drawn = checkAxis(axis, chart, job, limits);
    texts.ticks += drawn.ticks;
    if (drawn.labels) texts.labels.push(drawn.labels);
    if (texts.ticks > limits.maxTicksPerChart) {
      throw new ChartdError(
        'CONFIG_TOO_MANY_TICKS',
        `the chart's ${chart.axes.length} axes would have about ${Math.round(texts.ticks)} ticks together (up to ${axis.path}), over the limit of ${limits.maxTicksPerChart}; use fewer axes, larger stepSizes or fewer ticks`,
      );
    }
  }
  checkSlices(chart, limits);
  texts.legend = checkLegend(chart, major, limits);
  checkAnnotations(chart, major, limits);
  texts.dataLabels = checkDataLabels(chart, major, limits);
  checkChartTypeWork(chart, major, job, limits, texts);
  checkDashes(config, 'chart', job, limits);
  checkDatasetStrokes(chart, job, limits);
}

function describeChart(config: Json, major: ChartJsMajor): ChartShape {
  const options = record(config.options);
  const data = record(config.data);
  const type = String(config.type);
  const indexAxis = type === 'horizontalBar' || options.indexAxis === 'y' ? 'y' : 'x';
  const axes: Axis[] = [];
  const scales = record(options.scales);
  if (major === 2) {
    for (const direction of ['x', 'y'] as const) {
      const list = scales[`${direction}Axes`];
      if (Array.isArray(list)) list.forEach((axis, i) => axes.push({ path: `options.scales.${direction}Axes[${i}]`, options: record(axis), direction }));
    }
    if (options.scale !== undefined) axes.push({ path: 'options.scale', options: record(options.scale), direction: 'r' });
  } else {
    for (const [id, axis] of Object.entries(scales)) {
      const axisOptions = record(axis);
      const declared = axisOptions.axis;
      const direction = declared === 'x' || declared === 'y' || declared === 'r' ? declared : id.startsWith('y') ? 'y' : id.startsWith('r') ? 'r' : 'x';
      axes.push({ path: `options.scales.${id}`, options: axisOptions, direction });
    }
  }
  const datasets = (Array.isArray(data.datasets) ? data.datasets : []).map(record);
  return { type, options, datasets, labels: Array.isArray(data.labels) ? data.labels : undefined, axes, indexAxis };
}

/** Checks one axis; returns the ticks it counts towards the chart's total (none for a category axis) and the labels it draws. */
function checkAxis(axis: Axis, chart: ChartShape, job: RenderJob, limits: RenderLimits): { ticks: number; labels?: DrawnLabels } {
  const ticks = record(axis.options.ticks);
  const count = estimateTicks(axis, chart, job);
  // A category axis has a tick per label: those are bounded by the point count, and thinned by autoSkip.
  if (count.kind !== 'category' && count.ticks > limits.maxTicksPerAxis) {
    throw new ChartdError(
      'CONFIG_TOO_MANY_TICKS',
      `${axis.path} would have about ${Math.round(count.ticks)} ticks (${count.why}), over the limit of ${limits.maxTicksPerAxis}; use a larger stepSize or fewer ticks`,
    );
  }
  const category = isCategoryAxis(axis, chart);
  const every = drawsEveryLabel(ticks);
  if (every && category) {
    const labels = axisLabels(axis, chart).length;
    if (labels > limits.maxDrawnLabelsPerAxis) {
      throw new ChartdError(
        'CONFIG_TOO_MANY_LABELS',
        `${axis.path}.ticks.autoSkip is false with ${labels} labels: every one would be drawn, over the limit of ${limits.maxDrawnLabelsPerAxis}; let autoSkip thin them`,
      );
    }
  }
  // Dashed grid lines: one line per tick, each across the chart.
  const extentDevicePx = Math.max(job.width, job.height) * job.devicePixelRatio;
  forEachDash(axis.options, axis.path, (path, period) => {
    const segments = (count.ticks * extentDevicePx) / (period * job.devicePixelRatio);
    if (segments > limits.maxDashSegments) {
      throw new ChartdError(
        'CONFIG_DASH_TOO_FINE',
        `${path} would draw about ${Math.round(segments)} dash segments over ${Math.round(count.ticks)} grid lines, over the limit of ${limits.maxDashSegments}; use a longer dash`,
      );
    }
  });
  if (!category) return { ticks: count.ticks };
  // With autoSkip, Chart.js keeps labels at least a line apart: ~10 px is generous.
  const all = axisLabels(axis, chart);
  const length = axis.direction === 'y' ? job.height : job.width;
  return { ticks: 0, labels: { texts: all, drawn: every ? all.length : Math.min(all.length, Math.ceil(length / 10)) } };
}

/** Chart.js thins labels when `ticks.autoSkip` is truthy or `ticks.source` is 'auto'; a falsy autoSkip draws them all. */
export function drawsEveryLabel(ticks: Json): boolean {
  return switchedOff(ticks.autoSkip) && ticks.source !== 'auto';
}

/** Ticks an axis will have, as Chart.js would compute them (an upper estimate). */
function estimateTicks(axis: Axis, chart: ChartShape, job: RenderJob): { ticks: number; why: string; kind: 'numeric' | 'category' | 'automatic' } {
  const ticks = record(axis.options.ticks);
  const type = axis.options.type;
  if (type === 'time') {
    const time = estimateTimeTicks(axis, chart, job.version);
    if (time) return { ...time, kind: 'numeric' };
  }
  // Chart.js 3 and 4 compute `count - 1` spaces: a numeric string counts as its number.
  const count = number(ticks.count);
  if (count !== undefined) {
    return { ticks: count, why: `ticks.count ${JSON.stringify(ticks.count)}`, kind: 'numeric' };
  }
  const stepSize = number(ticks.stepSize) ?? number(ticks.fixedStepSize);
  const numeric = type === undefined || type === 'linear' || type === 'radialLinear';
  if (stepSize !== undefined && stepSize > 0 && numeric && !isCategoryAxis(axis, chart)) {
    const { min, max } = axisRange(axis, chart);
    let count = Math.ceil(max / stepSize) - Math.floor(min / stepSize) + 1;
    // Chart.js 3 and 4 cap stepSize ticks at 1,000 themselves (with a console warning).
    if (job.version >= 3) count = Math.min(count, 1000);
    const limit = number(ticks.maxTicksLimit);
    if (limit !== undefined && limit > 0) count = Math.min(count, limit);
    return { ticks: count, why: `stepSize ${stepSize} over ${min} to ${max}`, kind: 'numeric' };
  }
  if (isCategoryAxis(axis, chart)) return { ticks: axisLabels(axis, chart).length, why: 'one per label', kind: 'category' };
  // Automatic ticks: Chart.js keeps at least ~40 px between them; 20 px is generous.
  // A linear axis also stops at maxTicksLimit, 11 unless set (what an SVG outlines counts).
  const extent = axis.direction === 'y' ? job.height : axis.direction === 'x' ? job.width : Math.min(job.width, job.height);
  const limit = number(ticks.maxTicksLimit);
  const cap = numeric ? (limit !== undefined && limit > 0 ? limit : 11) : Number.POSITIVE_INFINITY;
  return { ticks: Math.min(Math.ceil(extent / 20) + 1, Math.max(2, cap)), why: 'automatic', kind: 'automatic' };
}

function isCategoryAxis(axis: Axis, chart: ChartShape): boolean {
  const type = axis.options.type;
  if (type === 'category') return true;
  if (type !== undefined || axis.direction === 'r') return false;
  return axis.direction === chart.indexAxis && !/^(scatter|bubble)$/.test(chart.type) && !PIE_LIKE.test(chart.type);
}

function axisLabels(axis: Axis, chart: ChartShape): unknown[] {
  if (Array.isArray(axis.options.labels)) return axis.options.labels;
  return chart.labels ?? [];
}

/** The range a numeric axis spans: its explicit min/max, else the data, suggested bounds and zero. */
function axisRange(axis: Axis, chart: ChartShape): { min: number; max: number } {
  const ticks = record(axis.options.ticks);
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  const see = (value: unknown) => {
    const n = number(value);
    if (n !== undefined) {
      low = Math.min(low, n);
      high = Math.max(high, n);
    }
  };
  const valueAxis = chart.indexAxis === 'x' ? 'y' : 'x';
  for (const dataset of chart.datasets) {
    if (!Array.isArray(dataset.data)) continue;
    for (const point of dataset.data) {
      if (Array.isArray(point)) point.forEach(see);
      else if (point !== null && typeof point === 'object') see((point as Json)[axis.direction === 'r' ? 'r' : axis.direction]);
      else if (axis.direction === valueAxis || axis.direction === 'r') see(point);
    }
  }
  for (const bound of [ticks.suggestedMin, ticks.suggestedMax, axis.options.suggestedMin, axis.options.suggestedMax]) see(bound);
  if (ticks.beginAtZero || axis.options.beginAtZero) see(0);
  const min = number(ticks.min) ?? number(axis.options.min) ?? (Number.isFinite(low) ? low : 0);
  const max = number(ticks.max) ?? number(axis.options.max) ?? (Number.isFinite(high) ? high : 1);
  return min === max ? { min: min - 1, max: max + 1 } : { min: Math.min(min, max), max: Math.max(min, max) };
}

function checkSlices(chart: ChartShape, limits: RenderLimits): void {
  let slices = 0;
  for (const dataset of chart.datasets) {
    const type = typeof dataset.type === 'string' ? dataset.type : chart.type;
    if (PIE_LIKE.test(type) && Array.isArray(dataset.data)) slices += dataset.data.length;
  }
  if (slices > limits.maxSlices) {
    throw new ChartdError('CONFIG_TOO_MANY_SLICES', `chart has ${slices} pie, doughnut or polar area slices, over the limit of ${limits.maxSlices}`);
  }
}

/** Returns the items the legend lists. */
function checkLegend(chart: ChartShape, major: ChartJsMajor, limits: RenderLimits): number {
  const legend = record(major === 2 ? chart.options.legend : record(chart.options.plugins).legend);
  if (legend.display === false) return 0;
  // Pie, doughnut and polar area charts list one item per label (Chart.js' generateLabels), the others one per dataset.
  const perLabel = PIE_LIKE.test(chart.type);
  const items = perLabel ? extent([chart.labels?.length ?? 0, ...chart.datasets.map((d) => (Array.isArray(d.data) ? d.data.length : 0))])[1] : chart.datasets.length;
  if (items > limits.maxLegendItems) {
    throw new ChartdError(
      'CONFIG_TOO_MANY_LEGEND_ITEMS',
      `the legend would list ${items} items, over the limit of ${limits.maxLegendItems}; hide it (legend.display: false) or show fewer slices`,
    );
  }
  return items;
}

function checkAnnotations(chart: ChartShape, major: ChartJsMajor, limits: RenderLimits): void {
  const plugin = record(major === 2 ? chart.options.annotation : record(chart.options.plugins).annotation);
  const annotations = plugin.annotations;
  const count = Array.isArray(annotations) ? annotations.length : annotations && typeof annotations === 'object' ? Object.keys(annotations).length : 0;
  if (count > limits.maxAnnotations) {
    throw new ChartdError('CONFIG_TOO_MANY_ANNOTATIONS', `chart has ${count} annotations, over the limit of ${limits.maxAnnotations}`);
  }
}

/** Returns the labels chartjs-plugin-datalabels draws. */
function checkDataLabels(chart: ChartShape, major: ChartJsMajor, limits: RenderLimits): number {
  const plugin = record(chart.options.plugins).datalabels;
  // Chart.js 2's datalabels plugin is on for every chart; on 3 and 4 it is opt-in.
  const mentioned = plugin !== undefined && plugin !== false;
  let labels = 0;
  for (const dataset of chart.datasets) {
    if (!Array.isArray(dataset.data)) continue;
    const own = dataset.datalabels;
    const active = own !== undefined ? record(own).display !== false : (major === 2 || mentioned) && plugin !== false && record(plugin).display !== false;
    if (active) labels += dataset.data.length;
  }
  if (labels > limits.maxDataLabels) {
    throw new ChartdError(
      'CONFIG_TOO_MANY_DATALABELS',
      `chartjs-plugin-datalabels would draw ${labels} labels, over the limit of ${limits.maxDataLabels}; show them on fewer datasets or points`,
    );
  }  return labels;
}

const LINE_TYPES = /^(line|radar)$/;

/**
 * What Skia strokes for the datasets: each line's length on the canvas (from its
 * own data range, so an upper estimate) times its width, and each point marker's
 * area. A 20,000-point zigzag 100 px wide covers billions of pixels from a
 * config of a few hundred kilobytes; a dashed one cuts that length into dashes.
 */
function checkDatasetStrokes(chart: ChartShape, job: RenderJob, limits: RenderLimits): void {
  const dpr = job.devicePixelRatio;
  const canvasPixels = job.width * job.height * dpr * dpr;
  const elements = record(chart.options.elements);
  const lineDefaults = record(elements.line);
  const pointDefaults = record(elements.point);
  let stroked = 0;
  chart.datasets.forEach((dataset, i) => {
    if (!Array.isArray(dataset.data)) return;
    const type = typeof dataset.type === 'string' ? dataset.type : chart.type;
    if (PIE_LIKE.test(type) || type === 'bar' || type === 'horizontalBar') return;
    const radius = largest(dataset.pointRadius) ?? largest(dataset.radius) ?? largest(pointDefaults.radius) ?? 3;
    const border = largest(dataset.pointBorderWidth) ?? largest(pointDefaults.borderWidth) ?? 1;
    for (const point of dataset.data) {
      if (point === null || point === undefined) continue;
      const r = type === 'bubble' && typeof point === 'object' ? (number((point as Json).r) ?? radius) : radius;
      stroked += Math.min(Math.PI * ((r + border) * dpr) ** 2, canvasPixels);
    }
    const showLine = LINE_TYPES.test(type) ? dataset.showLine !== false : dataset.showLine === true;
    if (!showLine) return;
    const lengthPx = polylineLength(dataset.data, job.width, job.height) * dpr;
    const width = (largest(dataset.borderWidth) ?? largest(lineDefaults.borderWidth) ?? 3) * dpr;
    stroked += lengthPx * Math.max(1, width);
    forEachDash({ borderDash: dataset.borderDash ?? lineDefaults.borderDash }, `chart.data.datasets[${i}]`, (path, period) => {
      const segments = lengthPx / (period * dpr);
      if (segments > limits.maxDashSegments) {
        throw new ChartdError(
          'CONFIG_DASH_TOO_FINE',
          `${path} would draw about ${Math.round(segments)} dash segments along its line, over the limit of ${limits.maxDashSegments}; use a longer dash or fewer points`,
        );
      }
    });
  });
  if (stroked > limits.maxStrokedPixels) {
    throw new ChartdError(
      'CONFIG_TOO_COSTLY',
      `the datasets' lines and point markers would cover about ${Math.round(stroked / 1e6)} million device pixels, over the limit of ${limits.maxStrokedPixels / 1e6} million; use thinner lines, smaller points or fewer of them`,
    );
  }
}

/** Length in CSS px of a dataset's line drawn across the canvas, its values spread over the full height. */
function polylineLength(data: unknown[], width: number, height: number): number {
  const ys: number[] = [];
  const xs: Array<number | undefined> = [];
  for (const point of data) {
    const y = point !== null && typeof point === 'object' && !Array.isArray(point) ? number((point as Json).y) : number(point);
    const x = point !== null && typeof point === 'object' && !Array.isArray(point) ? number((point as Json).x) : undefined;
    if (y === undefined) continue;
    ys.push(y);
    xs.push(x);
  }
  if (ys.length < 2) return 0;
  const numericX = xs.every((x) => x !== undefined);
  const [yMin, yMax] = extent(ys);
  const [xMin, xMax] = numericX ? extent(xs as number[]) : [0, ys.length - 1];
  const sx = width / (xMax - xMin || 1);
  const sy = height / (yMax - yMin || 1);
  let length = 0;
  for (let i = 1; i < ys.length; i++) {
    const dx = ((numericX ? xs[i]! - xs[i - 1]! : 1) * sx);
    const dy = (ys[i]! - ys[i - 1]!) * sy;
    length += Math.hypot(dx, dy);
  }
  return length;
}



/** Every dash pattern in the config: a period under half a device pixel is refused wherever it is. */
function checkDashes(config: Json, path: string, job: RenderJob, limits: RenderLimits): void {
  forEachDash(config, path, (where, period) => {
    if (period * job.devicePixelRatio < limits.minDashPeriodDevicePx) {
      throw new ChartdError(
        'CONFIG_DASH_TOO_FINE',
        `${where} repeats every ${period} px (${(period * job.devicePixelRatio).toPrecision(3)} device pixels), under the limit of ${limits.minDashPeriodDevicePx}; a dash that fine draws as a solid line at great cost`,
      );
    }
  });
}

/**
 * Calls `visit` for every dash array (a key ending in "dash", any case: borderDash,
 * zeroLineBorderDash, border.dash, ...) under `root`, with its period: what one
 * dash and gap cycle covers (the canvas repeats an odd list twice). Arrays that
 * draw no dash (empty, all zero, or invalid, which the canvas ignores) are skipped.
 */
function forEachDash(root: unknown, path: string, visit: (path: string, period: number) => void): void {
  walkDashes(root, path, '', visit);
}

/** Module-level rather than a closure per call: V8 optimises one function instead of one per config. */
function walkDashes(value: unknown, where: string, key: string, visit: (path: string, period: number) => void): void {
  if (Array.isArray(value)) {
    // The canvas converts each entry as Number() does ("0.001", null, [1]) and ignores a list with one that is not finite and positive or zero.
    const dashes = /dash$/i.test(key) ? value.map(dashNumber) : [];
    if (dashes.length > 0 && dashes.every((n) => Number.isFinite(n) && n >= 0)) {
      const sum = dashes.reduce((a, b) => a + b, 0);
      if (sum > 0) visit(where, value.length % 2 === 1 ? 2 * sum : sum);
      return;
    }
    // Only objects can hold a dash list: a data array's numbers are passed over without a path built for each.
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') walkDashes(item, `${where}[${i}]`, key, visit);
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [childKey, child] of Object.entries(value)) walkDashes(child, `${where}.${childKey}`, childKey, visit);
}

function dashNumber(value: unknown): number {
  try {
    return typeof value === 'object' || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number' ? Number(value) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
