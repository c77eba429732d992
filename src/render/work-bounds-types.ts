import { ChartdError } from '../errors.js';
import type { ChartJsMajor, RenderJob } from './job.js';
import type { RenderLimits } from './limits.js';
import { PIE_LIKE, record, type ChartShape, type DrawnTexts, type Json } from './work-bounds-util.js';

/**
 * Work particular chart types and plugins ask for, one count each (measured in
 * bench/RESULTS.md, "Work bounds"): Chart.js 2 bar layout, outlabelled slices,
 * radar point labels, sankey flows, gauge arcs, lines of titles and centre labels,
 * and texts an SVG writes as glyph outlines.
 */
export function checkChartTypeWork(chart: ChartShape, major: ChartJsMajor, job: RenderJob, limits: RenderLimits, texts: DrawnTexts): void {
  if (major === 2) checkLegacyBars(chart, limits);
  const outlabels = major === 2 ? outlabelledSlices(chart) : 0;
  if (outlabels > limits.maxOutlabels) {
    throw new ChartdError('CONFIG_TOO_MANY_SLICES', `chartjs-plugin-piechart-outlabels would label ${outlabels} slices, over the limit of ${limits.maxOutlabels}; show fewer slices or turn outlabels off`);
  }
  const radar = radarLabels(chart, major);
  if (radar > limits.maxDrawnLabelsPerAxis) {
    throw new ChartdError('CONFIG_TOO_MANY_LABELS', `the radar chart would draw all ${radar} point labels around its scale, over the limit of ${limits.maxDrawnLabelsPerAxis}; hide them (pointLabels.display: false) or use fewer labels`);
  }
  const flows = countData(chart, /^sankey$/);
  if (flows > limits.maxSankeyFlows) {
    throw new ChartdError('CONFIG_TOO_COSTLY', `the sankey diagram has ${flows} flows, over the limit of ${limits.maxSankeyFlows}`);
  }
  const arcs = countData(chart, /^gauge$/);
  if (arcs > limits.maxSlices) {
    throw new ChartdError('CONFIG_TOO_MANY_SLICES', `the gauge has ${arcs} values (one arc each), over the limit of ${limits.maxSlices}`);
  }
  const lines = textLines(chart, major);
  if (lines.count > limits.maxTextLines) {
    throw new ChartdError('CONFIG_TOO_MANY_LABELS', `${lines.where.join(', ')} would draw ${lines.count} lines of text, over the limit of ${limits.maxTextLines}`);
  }
  if (job.format === 'svg') checkOutlinedTexts(chart, job, limits, texts, { outlabels, radar, lines: lines.count });
}

/**
 * Chart.js 2 sizes each bar from the smallest gap between any two bars of its
 * dataset and any two ticks (computeMinSampleSize, run again for every bar): a
 * dataset of n bars on an axis of t labels costs n × (n + t) steps, ticks ~3
 * times dearer. Datasets with a barThickness skip it.
 */
function checkLegacyBars(chart: ChartShape, limits: RenderLimits): void {
  const ticks = chart.labels?.length ?? 0;
  const axisThickness = chart.axes.some((axis) => axis.direction === chart.indexAxis && axis.options.barThickness !== undefined && axis.options.barThickness !== null);
  let work = 0;
  let bars = 0;
  for (const dataset of chart.datasets) {
    const type = typeof dataset.type === 'string' ? dataset.type : chart.type;
    if ((type !== 'bar' && type !== 'horizontalBar') || !Array.isArray(dataset.data)) continue;
    if ((dataset.barThickness !== undefined && dataset.barThickness !== null) || axisThickness) continue;
    const n = dataset.data.length;
    bars += n;
    work += n * (n + 3 * ticks);
  }
  if (work > limits.maxLegacyBarWork) {
    throw new ChartdError(
      'CONFIG_TOO_COSTLY',
      `Chart.js 2 would compare every one of ${bars} bars with every bar and label to size it (${work.toExponential(2)} steps, over the limit of ${limits.maxLegacyBarWork.toExponential(2)}); set a barThickness, use fewer bars, or use version 4`,
    );
  }
}

function outlabelledSlices(chart: ChartShape): number {
  const plugin = record(chart.options.plugins).outlabels;
  if (plugin === false || record(plugin).display === false) return 0;
  let slices = 0;
  for (const dataset of chart.datasets) {
    const own = dataset.outlabels;
    if (own === false || record(own).display === false || !Array.isArray(dataset.data)) continue;
    slices += dataset.data.length;
  }
  return slices;
}

/** A radar chart draws a point label per label, all of them (no autoSkip). */
function radarLabels(chart: ChartShape, major: ChartJsMajor): number {
  if (chart.type !== 'radar') return 0;
  const scale = major === 2 ? record(chart.options.scale) : record(record(chart.options.scales).r);
  const pointLabels = record(scale.pointLabels);
  if (pointLabels.display !== undefined && !pointLabels.display) return 0;
  return chart.labels?.length ?? 0;
}

function countData(chart: ChartShape, type: RegExp): number {
  let count = 0;
  for (const dataset of chart.datasets) {
    if (type.test(typeof dataset.type === 'string' ? dataset.type : chart.type) && Array.isArray(dataset.data)) count += dataset.data.length;
  }
  return count;
}

/** Lines of the chart's title and subtitle, its axes' titles, and chartjs-plugin-doughnutlabel's centre labels. */
function textLines(chart: ChartShape, major: ChartJsMajor): { count: number; where: string[] } {
  const plugins = record(chart.options.plugins);
  let count = 0;
  const where: string[] = [];
  const add = (name: string, block: Json, key: string) => {
    if (!block.display) return;
    const value = block[key];
    const lines = Array.isArray(value) ? value.length : 1;
    count += lines;
    if (lines > 1) where.push(name);
  };
  if (major === 2) add('the title', record(chart.options.title), 'text');
  else {
    add('the title', record(plugins.title), 'text');
    add('the subtitle', record(plugins.subtitle), 'text');
    for (const axis of chart.axes) add(`${axis.path}.title`, record(axis.options.title), 'text');
  }
  const centre = record(plugins.doughnutlabel).labels;
  if (Array.isArray(centre)) {
    count += centre.length;
    where.push('chartjs-plugin-doughnutlabel');
  }
  if (where.length === 0) where.push('the titles');
  return { count, where };
}

/** What svg-text.ts writes as `<text>`; anything else (CJK, emoji, ...) becomes glyph outlines. */
const COMMON_TEXT = /^[\t\u0020-\u007E\u00A0-\u024F\u0370-\u03FF\u0400-\u04FF\u2000-\u206F\u20A0-\u20CF\u2100-\u214F]*$/;

/**
 * An SVG writes each text as glyph outlines with `svgText=outlines`, and text
 * outside the common scripts always: each costs a few milliseconds (a path per
 * glyph). Counted: axis labels drawn, data labels, numeric ticks, outlabels, radar
 * point labels, legend items and text lines; with `svgText=text` only labels and
 * legend items in other scripts.
 */
function checkOutlinedTexts(chart: ChartShape, job: RenderJob, limits: RenderLimits, texts: DrawnTexts, more: { outlabels: number; radar: number; lines: number }): void {
  const outlines = job.svgText === 'outlines';
  let labels = 0;
  for (const axis of texts.labels) labels += outlines ? axis.drawn : axis.drawn * uncommonShare(axis.texts);
  if (more.radar > 0) labels += outlines ? more.radar : more.radar * uncommonShare(chart.labels ?? []);
  const counts: Array<[number, 'CONFIG_TOO_MANY_LABELS' | 'CONFIG_TOO_MANY_DATALABELS' | 'CONFIG_TOO_MANY_TICKS' | 'CONFIG_TOO_MANY_SLICES' | 'CONFIG_TOO_MANY_LEGEND_ITEMS', string]> = [
    [Math.ceil(labels), 'CONFIG_TOO_MANY_LABELS', 'labels'],
    [outlines ? texts.dataLabels : 0, 'CONFIG_TOO_MANY_DATALABELS', 'data labels'],
    [outlines ? Math.round(texts.ticks) : 0, 'CONFIG_TOO_MANY_TICKS', 'tick labels'],
    [outlines ? more.outlabels : 0, 'CONFIG_TOO_MANY_SLICES', 'outlabels'],
    [outlines ? more.lines : 0, 'CONFIG_TOO_MANY_LABELS', 'lines of titles'],
    [Math.ceil(outlines ? texts.legend : texts.legend * uncommonShare(PIE_LIKE.test(chart.type) ? (chart.labels ?? []) : chart.datasets.map((d) => d.label ?? ''))), 'CONFIG_TOO_MANY_LEGEND_ITEMS', 'legend items'],
  ];
  const total = counts.reduce((sum, [n]) => sum + n, 0);
  if (total <= limits.maxOutlinedTexts) return;
  const [, code] = counts.reduce((a, b) => (b[0] > a[0] ? b : a));
  const parts = counts.filter(([n]) => n > 0).map(([n, , name]) => `${n} ${name}`).join(', ');
  throw new ChartdError(
    code,
    `the SVG would write about ${total} texts as glyph outlines (${parts}), over the limit of ${limits.maxOutlinedTexts}; draw fewer texts, ${outlines ? 'use svgText=text, ' : ''}or render a PNG`,
  );
}

/** The share of labels that are not in the common scripts (sampled: up to 1,000 of them). */
function uncommonShare(labels: readonly unknown[]): number {
  if (labels.length === 0) return 0;
  const step = Math.max(1, Math.floor(labels.length / 1000));
  let seen = 0;
  let uncommon = 0;
  for (let i = 0; i < labels.length; i += step) {
    seen++;
    const label = labels[i];
    const lines = Array.isArray(label) ? label : [label];
    if (lines.some((line) => !COMMON_TEXT.test(String(line)))) uncommon++;
  }
  return uncommon / seen;
}
