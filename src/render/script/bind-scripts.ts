import { createRequire } from 'node:module';
import { createCanvas } from '@napi-rs/canvas';
import { ChartdError } from '../../errors.js';
import { markerOf } from './markers.js';
import type { ScriptSession } from './script-session.js';

/** What a marker's host object is made on: the context the chart is drawn with (a raster, SVG or PDF surface). */
export interface DrawingTarget {
  ctx: { createLinearGradient(x0: number, y0: number, x1: number, y1: number): { addColorStop(offset: number, color: string): void } };
  /** The chart's size in CSS pixels, what QuickChart's gradient helpers measure against. */
  width: number;
  height: number;
}

const MAX_RESULT_DEPTH = 16;

/**
 * Replaces, in place, the markers of a scripted config with what Chart.js needs:
 * a function marker with a stub that calls the sandbox, a Date marker with a
 * Date, a gradient or pattern marker with a CanvasGradient or CanvasPattern made
 * on the drawing context. A callback's result is converted the same way, and
 * copied so that it holds plain data only.
 */
export function bindScripts(config: Record<string, unknown>, session: ScriptSession, target: DrawingTarget): void {
  const bind = (value: unknown, depth: number): unknown => {
    const marker = markerOf(value);
    if (marker) return resolveMarker(marker, session, target);
    if (depth > 64 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = bind(value[i], depth + 1);
      return value;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = bind(record[key], depth + 1);
    return record;
  };
  bind(config, 0);
}

function resolveMarker(marker: NonNullable<ReturnType<typeof markerOf>>, session: ScriptSession, target: DrawingTarget): unknown {
  switch (marker.kind) {
    case 'fn': {
      const id = Number(marker.payload);
      // A normal function: Chart.js calls tick callbacks on their scale (`this`).
      return function chartdCallback(this: unknown, ...args: unknown[]) {
        return toResult(session.call(id, this, args), session, target, 0);
      };
    }
    case 'date':
      return new Date(Number(marker.payload));
    case 'number':
      return Number(marker.payload);
    case 'undefined':
      return undefined;
    case 'gradient':
      return makeGradient(marker.payload, target);
    case 'pattern':
      return makePattern(marker.payload);
  }
}

/** A callback's result: plain data (markers resolved), never a function, a __proto__ key or an unbounded graph. */
function toResult(value: unknown, session: ScriptSession, target: DrawingTarget, depth: number): unknown {
  const marker = markerOf(value);
  if (marker) return marker.kind === 'fn' ? undefined : resolveMarker(marker, session, target);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_RESULT_DEPTH) return undefined;
  if (Array.isArray(value)) return value.map((item) => toResult(item, session, target, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(copy, key, { value: toResult((value as Record<string, unknown>)[key], session, target, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

interface GradientSpec {
  stops?: unknown;
  line?: unknown;
  direction?: unknown;
  colors?: unknown;
  dimensions?: unknown;
}

/**
 * QuickChart's getGradientFill(stops, [x0, y0, x1, y1] = [0, 0, width, 0]) and
 * getGradientFillHelper(direction, colors, {width, height}), with the same
 * arguments and defaults.
 */
function makeGradient(payload: unknown, target: DrawingTarget): unknown {
  const spec = (payload ?? {}) as GradientSpec;
  let stops: Array<{ offset: number; color: string }>;
  let line: number[];
  if (Array.isArray(spec.colors)) {
    const colors = spec.colors.map(String);
    stops = colors.map((color, i) => ({ color, offset: i / (colors.length - 1 || 1) }));
    const dimensions = (spec.dimensions ?? {}) as { width?: unknown; height?: unknown };
    const width = finite(dimensions.width) ?? target.width;
    const height = finite(dimensions.height) ?? target.height;
    line = spec.direction === 'vertical' ? [0, 0, 0, height] : spec.direction === 'both' ? [0, 0, width, height] : [0, 0, width, 0];
  } else {
    stops = (Array.isArray(spec.stops) ? spec.stops : []).map((stop) => {
      const { offset, color } = (stop ?? {}) as { offset?: unknown; color?: unknown };
      return { offset: finite(offset) ?? 0, color: String(color ?? 'transparent') };
    });
    line = Array.isArray(spec.line) && spec.line.length === 4 ? spec.line.map((n) => finite(n) ?? 0) : [0, 0, target.width, 0];
  }
  const gradient = target.ctx.createLinearGradient(line[0]!, line[1]!, line[2]!, line[3]!);
  for (const stop of stops) {
    try {
      gradient.addColorStop(Math.min(1, Math.max(0, stop.offset)), stop.color);
    } catch {
      throw new ChartdError('SCRIPT_ERROR', `getGradientFill: "${stop.color.slice(0, 40)}" at ${stop.offset} is not a colour stop`);
    }
  }
  return gradient;
}

const require = createRequire(import.meta.url);
/** patternomaly's own shape names: looked up as data, never as properties of its table. */
const PATTERN_SHAPES = new Set([
  'plus', 'cross', 'dash', 'cross-dash', 'dot', 'dot-dash', 'disc', 'ring', 'line', 'line-vertical', 'weave', 'zigzag',
  'zigzag-vertical', 'diagonal', 'diagonal-right-left', 'square', 'box', 'triangle', 'triangle-inverted', 'diamond',
  'diamond-box', 'circle', 'triangle-vertical', 'line-horizontal', 'line-diagonal-lr', 'line-diagonal-rl',
  'zigzag-horizontal', 'diamond-outline',
]);

/** QuickChart's pattern.draw(shape, backgroundColor, patternColor, size): patternomaly on a canvas of ours, size 20 by default, at most 200. */
function makePattern(payload: unknown): unknown {
  const { shape, background, foreground, size } = (payload ?? {}) as Record<string, unknown>;
  const shapeName = typeof shape === 'string' && PATTERN_SHAPES.has(shape) ? shape : 'square';
  const side = Math.min(200, finite(size) ?? 20) || 20;
  const globals = globalThis as { document?: unknown };
  const previous = globals.document;
  // patternomaly draws on document.createElement('canvas'), as in a browser.
  globals.document = { createElement: () => createCanvas(side, side) };
  try {
    const patternomaly = require('patternomaly') as { draw(shape: string, background?: unknown, foreground?: unknown, size?: number): unknown };
    return patternomaly.draw(shapeName, typeof background === 'string' ? background : undefined, typeof foreground === 'string' ? foreground : undefined, side);
  } finally {
    if (previous === undefined) delete globals.document;
    else globals.document = previous;
  }
}

function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
