import { interceptSetter } from './accessors.js';

/**
 * Chart.js sets a context's styles far more often than it changes them, and each
 * set is a native call that parses its value (0.5-2 µs). Chart.js 2 sets
 * `strokeStyle`, `lineWidth` and `fillStyle` for every point of a line, drawn or
 * not (radius 0), and the tick font before every label it measures or draws: a
 * 3 x 2,000-point chart made ~18,000 style sets and ~2,000 font sets per render.
 * It also measures every tick label in every render, each a new Skia text layout
 * (6-11 µs), although a chart of the same axes measures the same strings again.
 *
 * `trackContextState` puts two things on a canvas context:
 *  - a set of a style property to the primitive value it was last set to is
 *    dropped, since the context still holds it. What was set is saved and
 *    restored with the context's own state stack; `reset()` and a resize of the
 *    canvas (which resets the state) forget it;
 *  - `measureText` answers from a process-wide, bounded table of metrics keyed by
 *    the context's font, alignment and baseline as Skia reads them back (so a
 *    font Skia rejected does not count as set) and the text. A context whose
 *    spacing, direction, kerning or rendering hints were ever set since its last
 *    reset measures natively: those change widths and are not in the key.
 *
 * Metrics are copied into frozen plain objects, so the table holds no native
 * object and no render can change what another reads. Measurements: bench/RESULTS.md,
 * "Repeated context state".
 */

/** Style properties whose repeated sets are dropped: the ones Chart.js sets per element. */
const ELIDED_PROPERTIES = ['fillStyle', 'strokeStyle', 'lineWidth', 'font', 'textAlign', 'textBaseline', 'lineCap', 'lineJoin', 'globalAlpha'] as const;
type ElidedProperty = (typeof ELIDED_PROPERTIES)[number];

/** The text state in a measurement's key. */
const KEYED_TEXT_PROPERTIES: ReadonlySet<ElidedProperty> = new Set(['font', 'textAlign', 'textBaseline']);

/** Text state that changes metrics and is not in the key: setting any turns the table off for the context. */
const UNKEYED_TEXT_PROPERTIES = ['direction', 'letterSpacing', 'wordSpacing', 'fontKerning', 'fontStretch', 'fontVariantCaps', 'textRendering'] as const;

/** A Skia TextMetrics' numbers. */
export interface MeasuredText {
  readonly width: number;
  readonly actualBoundingBoxLeft: number;
  readonly actualBoundingBoxRight: number;
  readonly actualBoundingBoxAscent: number;
  readonly actualBoundingBoxDescent: number;
  readonly fontBoundingBoxAscent: number;
  readonly fontBoundingBoxDescent: number;
  readonly emHeightAscent: number;
  readonly emHeightDescent: number;
  readonly hangingBaseline: number;
  readonly alphabeticBaseline: number;
  readonly ideographicBaseline: number;
}

/**
 * Entries the table holds before it starts again (~400 bytes each: 1.6 MiB full,
 * measured): room for a 2,000-label axis and the rest of a chart's text.
 */
export const TEXT_METRICS_MAX_ENTRIES = 4096;
/** Longer texts (titles, sentences) are rarely measured twice; they are not kept. */
export const TEXT_METRICS_MAX_TEXT_LENGTH = 128;

const UNKNOWN = Symbol('unknown');

interface TrackedState {
  last: Record<ElidedProperty, unknown>;
  /** `font|align|baseline` as Skia reads them back; undefined when a set or a restore may have changed them. */
  textKey: string | undefined;
  /** A spacing, direction or hint was set since the last reset. */
  untrackedText: boolean;
  /** What was known at each `save()` not yet restored: the context's own stack, mirrored. */
  readonly saved: Array<Pick<TrackedState, 'last' | 'textKey' | 'untrackedText'>>;
}

interface TrackableContext {
  measureText(text: string): unknown;
  save(): void;
  restore(): void;
  reset?(): void;
}

/** One table per kind of surface: raster and SVG canvases lay out text through different Skia devices. */
export class TextMetricsTable {
  readonly #byState = new Map<string, Map<string, MeasuredText>>();
  #entries = 0;
  hits = 0;
  misses = 0;

  get size(): number {
    return this.#entries;
  }

  lookup(stateKey: string, text: string, measure: () => MeasuredText): MeasuredText {
    let texts = this.#byState.get(stateKey);
    const cached = texts?.get(text);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const metrics = measure();
    if (this.#entries >= TEXT_METRICS_MAX_ENTRIES) this.clear();
    if (texts === undefined || this.#entries === 0) {
      texts = new Map();
      this.#byState.set(stateKey, texts);
    }
    texts.set(text, metrics);
    this.#entries++;
    return metrics;
  }

  /** Starts again: simpler than an LRU, and a chart's strings are measured back within one render. */
  clear(): void {
    this.#byState.clear();
    this.#entries = 0;
  }
}

export const rasterTextMetrics = new TextMetricsTable();
export const svgTextMetrics = new TextMetricsTable();

const TRACKED = new WeakSet<object>();

/** Installs the dropped sets and the measurement table on `ctx` (once per context). */
export function trackContextState(ctx: TrackableContext, canvas: object, table: TextMetricsTable): void {
  if (TRACKED.has(ctx)) return;
  TRACKED.add(ctx);
  const state: TrackedState = { last: freshLast(), textKey: undefined, untrackedText: false, saved: [] };
  const resetAll = (): void => {
    state.last = freshLast();
    state.textKey = undefined;
    state.untrackedText = false;
    state.saved.length = 0;
  };

  for (const property of ELIDED_PROPERTIES) {
    interceptSetter(ctx, property, (value, setNative) => {
      const primitive = typeof value === 'string' || typeof value === 'number';
      if (primitive && state.last[property] === value) return;
      setNative(value);
      state.last[property] = primitive ? value : UNKNOWN;
      if (KEYED_TEXT_PROPERTIES.has(property)) state.textKey = undefined;
    });
  }
  for (const property of UNKEYED_TEXT_PROPERTIES) {
    interceptSetter(
      ctx,
      property,
      (value, setNative) => {
        setNative(value);
        state.untrackedText = true;
      },
      false,
    );
  }

  const save = ctx.save;
  const restore = ctx.restore;
  Object.defineProperty(ctx, 'save', {
    configurable: true,
    writable: true,
    value() {
      save.call(ctx);
      state.saved.push({ last: { ...state.last }, textKey: state.textKey, untrackedText: state.untrackedText });
    },
  });
  Object.defineProperty(ctx, 'restore', {
    configurable: true,
    writable: true,
    value() {
      restore.call(ctx);
      // With nothing saved the context's restore does nothing, and so does this.
      const saved = state.saved.pop();
      if (saved) Object.assign(state, saved);
    },
  });
  const reset = ctx.reset;
  if (typeof reset === 'function') {
    Object.defineProperty(ctx, 'reset', {
      configurable: true,
      writable: true,
      value() {
        reset.call(ctx);
        resetAll();
      },
    });
  }
  for (const dimension of ['width', 'height']) {
    interceptSetter(canvas, dimension, (value, setNative) => {
      setNative(value);
      resetAll();
    });
  }

  const measureText = ctx.measureText;
  const read = ctx as unknown as Record<string, unknown>;
  Object.defineProperty(ctx, 'measureText', {
    configurable: true,
    writable: true,
    value(text: unknown) {
      if ((typeof text !== 'string' && typeof text !== 'number') || state.untrackedText) return measureText.call(ctx, text as string);
      const string = String(text);
      if (string.length > TEXT_METRICS_MAX_TEXT_LENGTH) return measureText.call(ctx, string);
      state.textKey ??= `${String(read.font)}\u0000${String(read.textAlign)}\u0000${String(read.textBaseline)}`;
      return table.lookup(state.textKey, string, () => copyMetrics(measureText.call(ctx, string)));
    },
  });
}

function freshLast(): Record<ElidedProperty, unknown> {
  return Object.fromEntries(ELIDED_PROPERTIES.map((property) => [property, UNKNOWN])) as Record<ElidedProperty, unknown>;
}

/** One object literal: every copy has the same shape. */
function copyMetrics(native: unknown): MeasuredText {
  const m = native as MeasuredText;
  return Object.freeze({
    width: m.width,
    actualBoundingBoxLeft: m.actualBoundingBoxLeft,
    actualBoundingBoxRight: m.actualBoundingBoxRight,
    actualBoundingBoxAscent: m.actualBoundingBoxAscent,
    actualBoundingBoxDescent: m.actualBoundingBoxDescent,
    fontBoundingBoxAscent: m.fontBoundingBoxAscent,
    fontBoundingBoxDescent: m.fontBoundingBoxDescent,
    emHeightAscent: m.emHeightAscent,
    emHeightDescent: m.emHeightDescent,
    hangingBaseline: m.hangingBaseline,
    alphabeticBaseline: m.alphabeticBaseline,
    ideographicBaseline: m.ideographicBaseline,
  });
}
