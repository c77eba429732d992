/** The Chart.js 2 config the Google Image Charts converter builds (validateChartConfig checks the result). */

export type ChartType = 'bar' | 'horizontalBar' | 'line' | 'pie' | 'scatter';
// Chart.js 2 options are open-ended: the converter writes them, validateChartConfig checks the result.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Chart.js 2 config being built, any shape Chart.js takes
export type Options = Record<string, any>;
export interface Axis extends Options {
  ticks: Options;
  gridLines: Options;
}
export interface Dataset extends Options {
  data: Array<number | null | { x: number; y: number | null }>;
}
export interface ChartConfig {
  type: ChartType;
  data: { labels?: Array<number | string>; datasets: Dataset[] };
  options: Options & { scales?: { xAxes: Axis[]; yAxes: Axis[] }; plugins: Options };
}

/** Reads parameters by fixed names only: a request cannot steer a lookup onto `constructor`. */
export type Params = Record<string, string | undefined>;
