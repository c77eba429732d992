import { ChartdError } from '../../errors.js';
import { truncate } from '../../values.js';
import type { Axis, ChartConfig, Params } from './chart-config.js';
import { configFunction, type ConfigFunction } from './config-text.js';
import { definedOnly, finiteNumber, hexColor, nonNegativeNumber, positiveNumber } from './param-values.js';

/** Google Image Charts axes (chxt, chxr, chxs, chxl) and grid lines (chg) on the converted Chart.js 2 config. */

export function setAxes(config: ChartConfig, params: Params): void {
  const scales = config.options.scales;
  if (!scales || !params.chxt) return;
  const names = params.chxt.split(',').map((name) => name.trim());
  const axisAt = (index: number): Axis | undefined => {
    const name = names[index];
    if (name === 'x') return scales.xAxes[0];
    if (name === 'y') return scales.yAxes[0];
    return undefined; // Google's t and r axes: not drawn
  };
  const x = scales.xAxes[0]!;
  const y = scales.yAxes[0]!;
  if (names.includes('x')) {
    x.display = true;
    if (config.type === 'horizontalBar') Object.assign(x.gridLines, { display: true, drawOnChartArea: false, drawTicks: true });
    x.ticks.autoSkip = false;
  }
  if (names.includes('y')) {
    y.display = true;
    Object.assign(y.gridLines, { display: true, drawOnChartArea: false, offsetGridLines: false, drawTicks: true });
  }
  for (const range of (params.chxr ?? '').split('|').filter(Boolean)) {
    const [index, min, max, step] = range.split(',').map((value) => finiteNumber('chxr', value));
    const axis = index === undefined ? undefined : axisAt(index);
    if (!axis) continue;
    Object.assign(axis.ticks, definedOnly({ min, max, stepSize: step }));
  }
  for (const style of (params.chxs ?? '').split('|').filter(Boolean)) applyAxisStyle(style, axisAt);
  if (params.chxl) applyAxisLabels(params.chxl, names, axisAt);
}

/** `chxs=<index>[N<format>],<color>,<size>,<alignment>,<lines and ticks>`. */
function applyAxisStyle(style: string, axisAt: (index: number) => Axis | undefined): void {
  const [head = '', color, size, , visibility] = style.split(',');
  const match = /^(\d+)(?:N(.*))?$/.exec(head.trim());
  if (!match) throw new ChartdError('GCHART_INVALID', `chxs entries start with an axis index, got "${truncate(head, 16)}"`);
  const axis = axisAt(Number(match[1]));
  if (!axis) return;
  if (color) axis.ticks.fontColor = hexColor('chxs', color);
  if (size) axis.ticks.fontSize = positiveNumber('chxs', size);
  switch (visibility) {
    case '_':
      axis.display = false;
      break;
    case 'l':
      axis.gridLines.drawTicks = false;
      break;
    case 't':
    case 'lt':
      axis.gridLines.drawTicks = true;
      break;
  }
  if (match[2] !== undefined) axis.ticks.callback = numberFormatter(match[2]);
}

const CURRENCY_SYMBOLS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    AUD: '$', CAD: '$', CHF: 'CHF', CNY: '元', EUR: '€', GBP: '£', HKD: '$', INR: '₹', JPY: '¥',
    KRW: '₩', MXN: '$', NOK: 'kr', NZD: '$', RUB: '₽', SEK: 'kr', TRY: '₺', USD: '$', ZAR: 'R',
  }),
);

/**
 * Google's axis number format `N<prefix>*<type><decimals><options>*<suffix>`:
 * f fixed, p percent (x100), e scientific, cUSD a currency; s adds thousands
 * separators. As QuickChart reads it.
 */
function numberFormatter(format: string): ConfigFunction {
  const match = /^([^*]*)(?:\*([fpe]*)(c[A-Z]{3})?(\d)?([zsxy]*)\*)?(.*)$/.exec(format)!;
  const [, prefix = '', type = '', currency, decimals, flags = '', suffix = ''] = match;
  const percent = type.includes('p');
  return configFunction(
    'value',
    {
      prefix: prefix + (currency ? (CURRENCY_SYMBOLS.get(currency.slice(1)) ?? '$') : ''),
      suffix: (percent ? '%' : '') + suffix,
      percent,
      exponential: type.includes('e'),
      separators: flags.includes('s'),
      digits: decimals === undefined ? 2 : Number(decimals),
    },
    `var number = Number(value);
    if (percent) number = number * 100;
    var text = exponential ? number.toExponential()
      : separators ? number.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })
      : number.toFixed(digits);
    return prefix + text + suffix;`,
  );
}

/**
 * `chxl=0:|Jan|Feb|1:|low|high`: labels spread evenly over the ticks Chart.js
 * draws, first on the first and last on the last (QuickChart's mapping); a y
 * axis lists its labels bottom up, Chart.js 2 its ticks top down.
 */
function applyAxisLabels(chxl: string, names: string[], axisAt: (index: number) => Axis | undefined): void {
  const labelsByAxis = new Map<number, string[]>();
  let current: number | undefined;
  for (const part of chxl.split('|')) {
    const header = /^(\d+):$/.exec(part.trim());
    if (header) {
      current = Number(header[1]);
      labelsByAxis.set(current, []);
    } else if (current !== undefined) {
      labelsByAxis.get(current)!.push(part);
    }
  }
  for (const [index, labels] of labelsByAxis) {
    const axis = axisAt(index);
    if (!axis || labels.length === 0) continue;
    axis.ticks.callback = configFunction(
      'value, index, values',
      { labels: names[index] === 'y' ? [...labels].reverse() : labels },
      `var ticks = values.length;
    if (labels.length === 1) return index === 0 ? labels[0] : '';
    if (index === ticks - 1) return labels[labels.length - 1];
    var step = ticks / (labels.length - 1);
    for (var i = 0; i < labels.length - 1; i++) if (Math.floor(step * i) === index) return labels[i];
    return '';`,
    );
    Object.assign(axis.ticks, { minRotation: 0, maxRotation: 0, padding: 2 });
  }
}

/** `chg=<x step>,<y step>[,<dash>,<space>]`: grid lines on the chart area, dashed as Google draws them. */
export function setGridLines(config: ChartConfig, chg: string | undefined): void {
  const scales = config.options.scales;
  if (!scales || !chg) return;
  const [xStep, yStep, dash, space] = chg.split(',').map((value) => nonNegativeNumber('chg', value));
  const borderDash = dash !== undefined && dash > 0 ? { borderDash: [dash, space ?? 1] } : {};
  if (xStep) Object.assign(scales.xAxes[0]!.gridLines, { display: true, drawOnChartArea: true, ...borderDash });
  if (yStep) Object.assign(scales.yAxes[0]!.gridLines, { display: true, drawOnChartArea: true, ...borderDash });
}
