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
});
