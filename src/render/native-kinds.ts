/**
 * The kinds of native objects the worker's census counts (native-census.cts), and
 * the shape of its report: importable anywhere (the census itself is loaded only
 * into render workers, where it patches @napi-rs/canvas).
 */
export const NATIVE_KINDS = ['canvas', 'svg_canvas', 'image', 'path'] as const;
export type NativeKind = (typeof NATIVE_KINDS)[number];

export interface NativeTally {
  /** Created and not yet finalized. */
  objects: number;
  /** Pixel bytes those objects hold (0 for SVG canvases and paths). */
  bytes: number;
}

export type NativeCounts = Record<NativeKind, NativeTally>;

export function emptyNativeCounts(): NativeCounts {
  return { canvas: { objects: 0, bytes: 0 }, svg_canvas: { objects: 0, bytes: 0 }, image: { objects: 0, bytes: 0 }, path: { objects: 0, bytes: 0 } };
}
