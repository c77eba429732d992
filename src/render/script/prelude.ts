import { MARKERS } from './markers.js';

/**
 * JavaScript run in each sandbox before a config: QuickChart's helpers, and the
 * bridge the host calls. Values cross as JSON text only; what JSON cannot carry
 * (functions, Dates, ±Infinity, undefined, the helpers' results, and the chart,
 * scale and context objects a callback receives) crosses as marker objects
 * (markers.ts). The sandbox has no timers, no I/O and nothing of the host's: a
 * callback sees its own config and plain snapshots of what Chart.js passes.
 * String.raw: the source keeps its backslashes (the regular expressions need them).
 */
export const PRELUDE = String.raw`(() => {
  'use strict';
  const M = ${JSON.stringify(MARKERS)};
  const functions = [];
  const scales = new Map();
  let config;
  let size = { width: 0, height: 0 };
  let chartView;

  // QuickChart's helpers: their results are made in the host, at render time.
  globalThis.getGradientFill = (stops, line) => ({ [M.gradient]: { stops, line } });
  globalThis.getGradientFillHelper = (direction, colors, dimensions) => ({ [M.gradient]: { direction, colors, dimensions } });
  globalThis.pattern = { draw: (shape, background, foreground, size) => ({ [M.pattern]: { shape, background, foreground, size } }) };

  // QuickJS has no Intl: NumberFormat's common options, in en-US and the like.
  if (typeof globalThis.Intl === 'undefined') {
    const SYMBOLS = { USD: '$', EUR: '€', GBP: '£', JPY: '¥', INR: '₹', CNY: '¥', KRW: '₩', BRL: 'R$', CAD: 'CA$', AUD: 'A$' };
    const group = (digits, separator) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
    class NumberFormat {
      constructor(locale, options) {
        this.options = Object.assign({}, options);
        const european = typeof locale === 'string' && /^(de|fr|es|it|nl|pt|ru|pl|tr|sv|da|nb|fi)/i.test(locale);
        this.separators = european ? (/^fr|^ru|^sv|^nb|^fi|^pl/i.test(locale) ? ['\u202f', ','] : ['.', ',']) : [',', '.'];
      }
      format(value) {
        const o = this.options;
        let n = Number(value);
        if (!Number.isFinite(n)) return String(n);
        if (o.style === 'percent') n *= 100;
        const fallbackMax = o.style === 'currency' ? 2 : o.style === 'percent' ? 0 : 3;
        const min = o.minimumFractionDigits ?? (o.style === 'currency' ? 2 : 0);
        const max = Math.max(min, o.maximumFractionDigits ?? fallbackMax);
        let [whole, fraction = ''] = Math.abs(n).toFixed(max).split('.');
        fraction = fraction.replace(/0+$/, '');
        while (fraction.length < min) fraction += '0';
        const digits = o.useGrouping === false ? whole : group(whole, this.separators[0]);
        let text = (n < 0 ? '-' : '') + digits + (fraction ? this.separators[1] + fraction : '');
        if (o.style === 'percent') text += '%';
        if (o.style === 'currency') text = (SYMBOLS[o.currency] ?? (o.currency + ' ')) + text;
        return text;
      }
    }
    globalThis.Intl = { NumberFormat: function (locale, options) { return new NumberFormat(locale, options); } };
  }
  // number.toLocaleString(locale, options) as Node formats it: through NumberFormat (en-US grouping by default).
  const plainToLocale = Number.prototype.toLocaleString;
  Number.prototype.toLocaleString = function (locales, options) {
    const n = Number(this);
    return Number.isFinite(n) ? globalThis.Intl.NumberFormat(locales, options).format(n) : plainToLocale.call(this);
  };

  function encode(value) {
    const text = JSON.stringify({ v: value }, function (key, json) {
      const raw = this[key];
      if (typeof raw === 'function') {
        functions.push(raw);
        return { [M.fn]: functions.length - 1 };
      }
      if (raw instanceof Date) return { [M.date]: raw.getTime() };
      if (typeof raw === 'number' && !Number.isFinite(raw) && !Number.isNaN(raw)) return { [M.number]: String(raw) };
      if (raw === undefined && key === 'v') return { [M.undefined]: true };
      return json;
    });
    return text;
  }

  function view() {
    chartView ??= { data: config && config.data, options: config && config.options, config, width: size.width, height: size.height };
    return chartView;
  }

  function scale(snapshot) {
    let shim = scales.get(snapshot.id);
    if (!shim) {
      shim = {
        getLabelForValue(value) {
          const labels = this.labels;
          return labels && labels.length > 0 && Number.isInteger(value) ? (labels[value] ?? '') : String(value);
        },
        getLabelForIndex(index) {
          return this.getLabelForValue(index);
        },
      };
      scales.set(snapshot.id, shim);
    }
    Object.assign(shim, snapshot, { chart: view() });
    return shim;
  }

  function revive(key, value) {
    if (value === null || typeof value !== 'object') return value;
    if (M.context in value) {
      const context = value[M.context];
      const datasets = (config && config.data && config.data.datasets) || [];
      return Object.assign(context, { chart: view(), dataset: datasets[context.datasetIndex] });
    }
    if (M.scale in value) return scale(value[M.scale]);
    if (M.chart in value) return view();
    if (M.data in value) return config && config.data;
    if (M.date in value) return new Date(value[M.date]);
    if (M.undefined in value) return undefined;
    return value;
  }

  globalThis[M.bridge] = {
    exportConfig(value, width, height) {
      config = value;
      size = { width, height };
      return encode(value);
    },
    call(id, selfText, argsText) {
      const fn = functions[id];
      if (typeof fn !== 'function') throw new TypeError('chartd: no callback ' + id);
      const self = selfText === '' ? undefined : JSON.parse(selfText, revive).v;
      const args = JSON.parse(argsText, revive).v;
      return encode(fn.apply(self, args));
    },
  };
})();`;
