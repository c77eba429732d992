import { number, record, type Axis, type ChartShape, type Json } from './work-bounds-util.js';

/**
 * Each time unit: its shortest span in ms (23-hour days, 28-day months: an upper
 * estimate of the ticks from one unit to the next), its longest (for Chart.js'
 * own "too far apart" guard), and how moment adds it: milliseconds (it adds a
 * fractional step and the Date truncates it), or whole days or months (a step
 * rounded to the nearest whole one).
 */
const UNITS = new Map<string, { shortest: number; longest: number; adds: 'ms' | 'days' | 'months'; per: number }>([
  ['millisecond', { shortest: 1, longest: 1, adds: 'ms', per: 1 }],
  ['second', { shortest: 1_000, longest: 1_000, adds: 'ms', per: 1_000 }],
  ['minute', { shortest: 60_000, longest: 60_000, adds: 'ms', per: 60_000 }],
  ['hour', { shortest: 3_600_000, longest: 3_600_000, adds: 'ms', per: 3_600_000 }],
  ['day', { shortest: 82_800_000, longest: 90_000_000, adds: 'days', per: 1 }],
  ['week', { shortest: 7 * 82_800_000, longest: 7 * 90_000_000, adds: 'days', per: 7 }],
  ['month', { shortest: 28 * 86_400_000, longest: 31 * 90_000_000, adds: 'months', per: 1 }],
  ['quarter', { shortest: 89 * 86_400_000, longest: 92 * 90_000_000, adds: 'months', per: 3 }],
  ['year', { shortest: 365 * 86_400_000, longest: 366 * 90_000_000, adds: 'months', per: 12 }],
]);

/**
 * Ticks a time axis generates (Chart.js' `generate`/`_generate`: one per
 * `stepSize` units from min to max, drawn or thinned afterwards, both costly),
 * when its unit is fixed and its range can be read from the config. Undefined
 * when Chart.js picks the unit itself (it picks one that fits the axis), or takes
 * the ticks from the data or labels (bounded by the point limit). A step that
 * moment cannot advance by (under a millisecond, a fraction of a day or month)
 * or an unknown unit never ends in Chart.js: counted as infinitely many ticks.
 */
export function estimateTimeTicks(axis: Axis, chart: ChartShape, version: number): { ticks: number; why: string } | undefined {
  const options = axis.options;
  const time = record(options.time);
  const ticks = record(options.ticks);
  const source = ticks.source;
  if (source === 'data' || source === 'labels') return undefined;
  // Chart.js 2's default source 'auto' on a 'series' distribution takes the data's timestamps too.
  if (version === 2 && (source === undefined || source === 'auto') && options.distribution === 'series') return undefined;
  const unit = time.unit;
  if (!unit) return undefined;
  const stepOption = version === 2 ? (time.stepSize !== undefined ? time.stepSize : time.unitStepSize) : version === 3 ? time.stepSize : ticks.stepSize;
  const stepSize = stepOption === undefined ? 1 : number(stepOption);
  // Chart.js throws (cheaply) for a step that is not positive: "too far apart".
  if (stepSize === undefined || stepSize <= 0) return undefined;
  const known = typeof unit === 'string' ? UNITS.get(unit) : undefined;
  const why = `time unit ${JSON.stringify(unit)}, stepSize ${stepSize}`;
  if (known === undefined) return { ticks: Number.POSITIVE_INFINITY, why: `${why}: not a unit Chart.js can step by` };
  // What one step advances by: a step that advances by nothing never ends.
  const advance = known.adds === 'ms' ? Math.floor(known.per * stepSize) : Math.round(known.per * stepSize);
  if (advance < 1) return { ticks: Number.POSITIVE_INFINITY, why: `${why}: a step the date library cannot advance by` };
  const stepMs = known.adds === 'ms' ? advance : (advance / known.per) * known.shortest;
  const range = timeRange(axis, chart, version);
  if (!range) return undefined;
  // Chart.js refuses more than 100,000 steps itself ("too far apart"), cheaply.
  if ((range.max - range.min) / known.longest > 100_000 * stepSize) return undefined;
  const steps = (range.max - range.min) / stepMs;
  return { ticks: Math.ceil(steps) + 2, why: `${why} over ${range.max - range.min} ms` };
}

function timeRange(axis: Axis, chart: ChartShape, version: number): { min: number; max: number } | undefined {
  const options = axis.options;
  const time = record(options.time);
  const ticks = record(options.ticks);
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  const see = (value: unknown) => {
    const t = timestamp(value);
    if (t === undefined) return;
    if (t < low) low = t;
    if (t > high) high = t;
  };
  const userMin = timestamp(version === 2 ? (time.min !== undefined ? time.min : ticks.min) : options.min);
  const userMax = timestamp(version === 2 ? (time.max !== undefined ? time.max : ticks.max) : options.max);
  if (userMin === undefined || userMax === undefined) {
    const direction = axis.direction === 'r' ? 'x' : axis.direction;
    const labels = Array.isArray(options.labels) ? options.labels : chart.labels;
    if (direction === chart.indexAxis) labels?.forEach(see);
    for (const dataset of chart.datasets) {
      if (!Array.isArray(dataset.data)) continue;
      for (const point of dataset.data) {
        if (point === null || typeof point !== 'object' || Array.isArray(point)) continue;
        const p = point as Json;
        see(p[direction]);
        if (version === 2 && direction === 'x') see(p.t);
      }
    }
  }
  const min = userMin ?? (Number.isFinite(low) ? low : undefined);
  const max = userMax ?? (Number.isFinite(high) ? high : undefined);
  if (min === undefined || max === undefined) return undefined;
  return { min: Math.min(min, max), max: Math.max(min, max) };
}

/** A time value as the moment adapter reads the common forms: ms since the epoch, or a date string. */
function timestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const parsed = Date.parse(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}
