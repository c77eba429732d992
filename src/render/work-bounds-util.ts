/** Shared by the work-bound checks (work-bounds.ts and its companions). */

export type Json = Record<string, unknown>;

export interface Axis {
  path: string;
  options: Json;
  /** 'x' or 'y' (or 'r' for radial scales): which data values it spans. */
  direction: 'x' | 'y' | 'r';
}

export interface ChartShape {
  type: string;
  options: Json;
  datasets: Json[];
  labels: unknown[] | undefined;
  axes: Axis[];
  /** The axis that carries the labels: 'x', or 'y' for horizontal bars. */
  indexAxis: 'x' | 'y';
}

/** Labels one axis draws: `drawn` of `texts` (all of them, or what autoSkip keeps at most). */
export interface DrawnLabels {
  texts: unknown[];
  drawn: number;
}

/** The texts a chart draws in quantity, counted as the axes and data labels are checked. */
export interface DrawnTexts {
  /** Ticks of the non-category axes, over the chart. */
  ticks: number;
  labels: DrawnLabels[];
  dataLabels: number;
  /** Items of the legend, if shown. */
  legend: number;
}

export const PIE_LIKE = /^(pie|doughnut|polarArea|outlabeledPie|outlabeledDoughnut)$/;

export function record(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

/**
 * A numeric option as Chart.js will use it: it does arithmetic on what it is given
 * (`count - 1`, `max / stepSize`), so "1e8", " 100 ", "0x10", true and ["1e8"]
 * are numbers to it. null and undefined are "not set"; what arithmetic makes NaN
 * (or an object that cannot be converted) is undefined here.
 */
export function number(value: unknown): number | undefined {
  if (value === null || value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  let n: number;
  try {
    n = typeof value === 'bigint' ? Number(value) : Number(value as string);
  } catch {
    return undefined;
  }
  return Number.isFinite(n) ? n : undefined;
}

/** An option Chart.js tests for truth (`if (tickOpts.autoSkip)`): set and falsy means off. */
export function switchedOff(value: unknown): boolean {
  return value !== undefined && !value;
}

/** Smallest and largest value, without spreading up to 100,000 arguments onto the stack. */
export function extent(values: readonly number[]): [number, number] {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const value of values) {
    if (value < low) low = value;
    if (value > high) high = value;
  }
  return [low, high];
}

/** The largest of a number or an array of numbers (scriptable per-point options). */
export function largest(value: unknown): number | undefined {
  if (Array.isArray(value)) {
    const numbers = value.map(number).filter((n): n is number => n !== undefined);
    return numbers.length > 0 ? extent(numbers)[1] : undefined;
  }
  return number(value);
}
