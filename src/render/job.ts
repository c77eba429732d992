import type { ScriptSession } from './script/script-session.js';

export const OUTPUT_FORMATS = ['png', 'webp', 'jpeg', 'svg', 'pdf', 'base64'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const CHARTJS_MAJORS = [2, 3, 4] as const;
export type ChartJsMajor = (typeof CHARTJS_MAJORS)[number];

/** What a caller passes: loose types, as they arrive from a query string or JSON body. */
export interface RenderRequest {
  /** Chart.js config: an object, or JSON / JavaScript-object-literal text. */
  chart: unknown;
  /** Chart.js version: "2", "3", "4", "2.9.4", "latest"...; absent: see docs/API.md. */
  version?: string | number | undefined;
  width?: number | string | undefined;
  height?: number | string | undefined;
  devicePixelRatio?: number | string | undefined;
  backgroundColor?: string | undefined;
  format?: string | undefined;
  /** SVG only: `text` (the default; text as `<text>`) or `outlines` (every glyph as a path: exact, needs no fonts). */
  svgText?: string | undefined;
  /** `chart` as a URL query reads with '+' as a space, tried when `chart` does not parse (see parseChartConfig). */
  chartIfPlusIsSpace?: string | undefined;
}

/**
 * A render job: plain data only, so it crosses thread boundaries by structured
 * clone. `config` is already parsed and validated.
 */
export interface RenderJob {
  config: Record<string, unknown>;
  /**
   * The sandbox that holds the config's functions, when its text was JavaScript
   * (not crossing processes; renderJob disposes it). `scriptSource` is that text:
   * part of the ETag, and what a worker evaluates again for a job sent to it.
   */
  script?: ScriptSession | undefined;
  scriptSource?: string | undefined;
  version: ChartJsMajor;
  width: number;
  height: number;
  devicePixelRatio: number;
  backgroundColor: string;
  format: OutputFormat;
  /** Set only when asked for: SVG text as glyph outlines. */
  svgText?: 'outlines' | undefined;
}

export interface RenderResult {
  body: Buffer;
  contentType: string;
}

/** QuickChart's defaults (docs/API.md lists where chartd differs). */
export const JOB_DEFAULTS = Object.freeze({
  width: 500, // CSS px
  height: 300, // CSS px
  devicePixelRatio: 2,
  backgroundColor: 'transparent',
  format: 'png' as OutputFormat,
});

export const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  base64: 'text/plain; charset=utf-8',
};
