import type { OutputFormat } from './job.js';

export const MIB = 1024 * 1024;

/**
 * Bounds on every input of a render. Past any of them a render fails with a
 * ChartdError naming the field and the bound, before any canvas is allocated.
 * Documented in docs/API.md ("Limits").
 */
export interface RenderLimits {
  /** Size of the config text (UTF-8), or of its JSON form when given as an object. */
  maxConfigBytes: number;
  /** Width and height in CSS pixels, before devicePixelRatio. */
  maxWidth: number;
  maxHeight: number;
  /** Output pixels: width × height × devicePixelRatio². */
  maxPixels: number;
  maxDevicePixelRatio: number;
  maxDatasets: number;
  /** Data points and labels over all datasets. */
  maxDataPoints: number;
  maxStringLength: number;
  /** Nesting of objects and arrays in the config. */
  maxDepth: number;
  /** Objects, arrays and values in the config. */
  maxNodes: number;
  // Work a small config can ask for, predicted before drawing (work-bounds.ts):
  /** Ticks on one axis: a stepSize over the axis range, or ticks.count. */
  maxTicksPerAxis: number;
  /** Ticks over all the axes of a chart (category axes aside). */
  maxTicksPerChart: number;
  /** Labels one category axis draws when ticks.autoSkip is false, and point labels around a radar. */
  maxDrawnLabelsPerAxis: number;
  /** Chart.js 2 bar layout: over bar datasets without a barThickness, bars × (bars + 3 × labels). */
  maxLegacyBarWork: number;
  /** Slices chartjs-plugin-piechart-outlabels labels. */
  maxOutlabels: number;
  /** Flows of sankey datasets. */
  maxSankeyFlows: number;
  /** Lines of the titles (chart, subtitle, axes) and of chartjs-plugin-doughnutlabel's centre labels. */
  maxTextLines: number;
  /** Texts an SVG writes as glyph outlines (every text with svgText=outlines; text outside the common scripts always). */
  maxOutlinedTexts: number;
  /** Slices of pie, doughnut and polarArea datasets, over the chart. */
  maxSlices: number;
  /** Items a displayed legend lists. */
  maxLegendItems: number;
  /** Annotations (chartjs-plugin-annotation). */
  maxAnnotations: number;
  /** Labels chartjs-plugin-datalabels draws (one per data point shown). */
  maxDataLabels: number;
  /** The shortest dash pattern period (dash plus gap), in device pixels. */
  minDashPeriodDevicePx: number;
  /** Dash segments dashed grid lines, or one dashed dataset line, may draw. */
  maxDashSegments: number;
  /** Device pixels the lines and point markers of the datasets may cover, summed (overlaps counted each time). */
  maxStrokedPixels: number;
  /** Largest encoded image per format, bytes. */
  maxOutputBytes: Readonly<Record<OutputFormat, number>>;
  /** Evaluate JavaScript-literal configs (functions, `new Date(...)`, `Math.PI`) in a sandbox; false: refuse them (CONFIG_FUNCTION). */
  allowScripts: boolean;
  /** The sandbox of one render: see ScriptLimits (script/script-session.ts). */
  maxScriptMemoryBytes: number;
  maxScriptTimeMs: number;
  maxScriptCalls: number;
  maxScriptOutputBytes: number;
}

export const DEFAULT_LIMITS: Readonly<RenderLimits> = Object.freeze({
  maxConfigBytes: 1_048_576, // 1 MiB
  maxWidth: 3_000, // CSS px, as QuickChart
  maxHeight: 3_000, // CSS px, as QuickChart
  maxPixels: 16_777_216, // 16 MP, e.g. 2000 x 2000 at devicePixelRatio 2: 64 MiB of RGBA
  maxDevicePixelRatio: 4,
  maxDatasets: 100,
  maxDataPoints: 100_000,
  maxStringLength: 10_000, // characters
  maxDepth: 32,
  maxNodes: 1_000_000,
  // Measured on one core (bench/RESULTS.md, "Work bounds"): each bound sits where
  // a render costs about a second or less, far past what a readable chart needs.
  maxTicksPerAxis: 10_000, // Chart.js 2, stepSize 1e-4 over a unit range: 176 ms
  maxTicksPerChart: 20_000, // Chart.js 4: 2 axes of count 10,000 1.2 s, 30 of 2,000 2.1 s
  maxDrawnLabelsPerAxis: 2_000, // 1,000 labels, autoSkip false: 113 ms; 50,000: 3.2 s
  maxLegacyBarWork: 250_000_000, // 7,900 bars on 7,900 labels (2.5e8): 989 ms; 10,000 (4e8) 1.45 s; 20,000 4.3 s; 50,000 33 s
  maxOutlabels: 300, // 300 outlabelled slices 643 ms, 400 1.16 s, 600 3.3 s
  maxSankeyFlows: 2_000, // 2,000 flows 0.9-1.1 s (a chain, a star, 100 x 97 nodes); 4,000 1.3-2.7 s; 30,000 13.6 s
  maxTextLines: 10_000, // 10,000 doughnutlabel lines 419 ms, 20,000 952 ms
  maxOutlinedTexts: 400, // 400 CJK labels or data labels at 3000x3000: 0.84-1.2 s; 1,000 data labels 2.4-3.2 s
  maxSlices: 2_000, // Chart.js 2 pie: 2,000 slices 517 ms, 5,000 1.7 s, 50,000 148 s
  maxLegendItems: 2_000,
  maxAnnotations: 1_000, // Chart.js 4: 2,000 line annotations 663 ms
  maxDataLabels: 10_000, // Chart.js 4: 20,000 labels 1.4 s
  minDashPeriodDevicePx: 0.5, // [0.001, 0.001] on 2000x2000 at ratio 2: 45 s in Skia
  maxDashSegments: 500_000, // ~3 µs a segment: 80,000 segments 265 ms
  maxStrokedPixels: 300_000_000, // ~7 ns a pixel: a 20,000-point zigzag 100 px wide covered 16e9 in 116 s
  maxOutputBytes: Object.freeze({
    png: 32 * MIB, // a 16-megapixel chart encodes to 1-5 MiB; noise-like pixels to ~30
    webp: 32 * MIB,
    jpeg: 32 * MIB,
    svg: 16 * MIB, // a 136 KB config drew an 81 MB SVG
    pdf: 16 * MIB,
    base64: 43 * MIB, // the PNG bound, base64-encoded
  }),
  allowScripts: true,
  maxScriptMemoryBytes: 32 * MIB, // QuickJS heap of one render
  maxScriptTimeMs: 1_000, // over the whole render: evaluation and every callback (~15-30 µs a call)
  maxScriptCalls: 100_000, // callback calls in one render
  maxScriptOutputBytes: 8 * MIB, // JSON of the evaluated config, or of one callback's result
});
