/**
 * The native-object census of a render worker: every canvas, SVG canvas, image
 * and Path2D that @napi-rs/canvas makes in this process, whoever makes it (chartd,
 * Chart.js, a plugin calling `createCanvas`, `new Canvas`, `new Image`, `new Path2D`
 * or `loadImage` itself), counted at creation and at finalization, with the pixel
 * bytes each holds (width × height × 4 for a raster canvas, natural width × height
 * × 4 for a decoded image; 0 for SVG canvases and paths, whose memory is not a
 * surface). It is what the worker's resident memory is made of when the heaps are
 * flat (docs/LEAKS.md, class 2), and what /debug/resources and
 * `chartd_worker_native_objects{worker,kind}` show per worker.
 *
 * How: @napi-rs/canvas is CommonJS, and its index.js takes its classes from
 * `./js-binding` when it loads. Installed before that (the pool starts workers
 * with `--require` of this file, ahead of any `--import` preload, and
 * worker-main imports it first), the census replaces the binding's exports with
 * Proxies whose `construct` trap counts each instance and registers it with a
 * FinalizationRegistry: index.js, its `createCanvas`, `Canvas` and `loadImage`,
 * and every CommonJS or ESM importer then hold the counting constructors (an ESM
 * importer's named bindings are read from `module.exports` when it first loads).
 * Prototypes, statics and `instanceof` are the originals'. Sizes are running
 * sums: the `width`/`height` setters of canvases and the `src` setter of images
 * are wrapped to update an object's bytes, so a snapshot costs O(1) however many
 * objects are alive (a leak of a million canvases included).
 *
 * "Live" is created and not yet finalized: an object dropped since the last GC
 * still counts, so a single read jumps with GC timing; a leak is a floor that
 * climbs. Objects the native side makes without a JavaScript constructor call
 * (ImageData, the contexts, a GIF encoder) are not counted.
 *
 * CommonJS on purpose (`--require` loads it before any ESM preload); it imports
 * nothing of chartd's but types (native-kinds.ts). Loading it installs it: only
 * render workers load it (the main process reads the kinds from native-kinds.ts).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NativeCounts, NativeKind } from './native-kinds.js';

interface Entry {
  kind: NativeKind;
  bytes: number;
}

/** Binding export name → kind. `Path` is what index.js re-exports as Path2D. */
const BINDING_CLASSES: ReadonlyArray<readonly [string, NativeKind]> = [
  ['CanvasElement', 'canvas'],
  ['SVGCanvas', 'svg_canvas'],
  ['Image', 'image'],
  ['Path', 'path'],
];

const tallies: NativeCounts = { canvas: { objects: 0, bytes: 0 }, svg_canvas: { objects: 0, bytes: 0 }, image: { objects: 0, bytes: 0 }, path: { objects: 0, bytes: 0 } };
const created: Record<NativeKind, number> = { canvas: 0, svg_canvas: 0, image: 0, path: 0 };
/** An object's entry; the registry holds the same entry (never the object) until it is finalized. */
const entries = new WeakMap<object, Entry>();
const registry = new FinalizationRegistry<Entry>((entry) => {
  const tally = tallies[entry.kind];
  tally.objects--;
  tally.bytes -= entry.bytes;
});

/** `installed`; `late` (loaded after @napi-rs/canvas: partial counts); `failed` (counts stay 0); `not-installed`. */
export type NativeCensusState = 'not-installed' | 'installed' | 'late' | 'failed';

let state: NativeCensusState = 'not-installed';
const load = createRequire(__filename);

type Accessor = { get: () => unknown; set: (value: unknown) => void };

function dimension(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function track(object: object, kind: NativeKind, bytes: number): void {
  if (entries.has(object)) return;
  const entry: Entry = { kind, bytes };
  entries.set(object, entry);
  registry.register(object, entry);
  created[kind]++;
  tallies[kind].objects++;
  tallies[kind].bytes += bytes;
}

function resize(object: object, bytes: number): void {
  const entry = entries.get(object);
  if (!entry || entry.bytes === bytes) return;
  tallies[entry.kind].bytes += bytes - entry.bytes;
  entry.bytes = bytes;
}

function accessor(proto: object, name: string): Accessor | undefined {
  const descriptor = Object.getOwnPropertyDescriptor(proto, name);
  return descriptor?.get && descriptor.set ? (descriptor as Accessor) : undefined;
}

/** Wraps the setters of `names` on `proto` to re-read the object's bytes after each set. */
function wrapSetters(proto: object, names: readonly string[], bytesOf: (object: object) => number): void {
  for (const name of names) {
    const original = accessor(proto, name);
    if (!original) continue;
    Object.defineProperty(proto, name, {
      configurable: true,
      enumerable: Object.getOwnPropertyDescriptor(proto, name)!.enumerable ?? false,
      get: original.get,
      set(this: object, value: unknown) {
        original.set.call(this, value);
        resize(this, bytesOf(this));
      },
    });
  }
}

/** Reads sizes through the original getters (never through a wrapper). */
function sizeReader(proto: object, widthName: string, heightName: string): (object: object) => number {
  const width = Object.getOwnPropertyDescriptor(proto, widthName)?.get;
  const height = Object.getOwnPropertyDescriptor(proto, heightName)?.get;
  if (!width || !height) return () => 0;
  return (object) => dimension(width.call(object)) * dimension(height.call(object)) * 4;
}

function countingClass<T extends abstract new (...args: never[]) => object>(Target: T, kind: NativeKind, bytesOf: (object: object) => number): T {
  const counting: T = new Proxy(Target, {
    construct(target, args, newTarget) {
      // new Counting(...) builds exactly what new Target(...) would; a subclass keeps its own new.target.
      const object = Reflect.construct(target as unknown as new (...a: unknown[]) => object, args, newTarget === counting ? target : newTarget) as object;
      track(object, kind, bytesOf(object));
      return object;
    },
  });
  return counting;
}

/**
 * Installs the census in this process; idempotent. Returns false when
 * @napi-rs/canvas cannot be patched (its layout changed): counts then stay 0.
 */
export function installNativeCensus(): boolean {
  if (state !== 'not-installed') return state === 'installed' || state === 'late';
  try {
    const main = load.resolve('@napi-rs/canvas');
    // An absolute path: the package's own ./js-binding, the module index.js requires (one cache entry).
    const binding = load(join(dirname(main), 'js-binding.js')) as Record<string, unknown>;
    const late = load.cache[main] !== undefined;
    // All or nothing: a library whose layout changed is left as it is.
    const missing = BINDING_CLASSES.filter(([name]) => typeof binding[name] !== 'function').map(([name]) => name);
    if (missing.length > 0) throw new Error(`@napi-rs/canvas has no ${missing.join(', ')} binding`);
    for (const [name, kind] of BINDING_CLASSES) {
      const Target = binding[name];
      const proto = (Target as { prototype: object }).prototype;
      const bytesOf = kind === 'canvas' ? sizeReader(proto, 'width', 'height') : kind === 'image' ? sizeReader(proto, 'naturalWidth', 'naturalHeight') : () => 0;
      if (kind === 'canvas') wrapSetters(proto, ['width', 'height'], bytesOf);
      if (kind === 'image') wrapSetters(proto, ['src'], bytesOf);
      binding[name] = countingClass(Target as new () => object, kind, bytesOf);
    }
    if (late) patchLoadedIndex(load(main) as Record<string, unknown>, binding);
    state = late ? 'late' : 'installed';
    return true;
  } catch (error) {
    state = 'failed';
    process.emitWarning(`native-object census not installed: ${(error as Error).message}`, { code: 'CHARTD_NATIVE_CENSUS' });
    return false;
  }
}

/**
 * @napi-rs/canvas was loaded before the census (a preload ahead of it): its
 * index.js holds the original classes. Its exports are replaced for importers
 * yet to come; `createCanvas` and `Canvas` are wrapped to count what they return.
 * ESM modules already linked to it keep the uncounted originals.
 */
function patchLoadedIndex(index: Record<string, unknown>, binding: Record<string, unknown>): void {
  index.CanvasElement = binding.CanvasElement;
  index.SVGCanvas = binding.SVGCanvas;
  index.Image = binding.Image;
  index.Path2D = binding.Path;
  const originalCreate = index.createCanvas as (...args: unknown[]) => object;
  const proto = (binding.CanvasElement as { prototype: object }).prototype;
  const canvasBytes = sizeReader(proto, 'width', 'height');
  const countResult = (canvas: object, flag: unknown) => {
    if (flag === undefined) track(canvas, 'canvas', canvasBytes(canvas));
    else track(canvas, 'svg_canvas', 0);
    return canvas;
  };
  index.createCanvas = function createCanvas(width: unknown, height: unknown, flag: unknown) {
    return countResult(originalCreate(width, height, flag), flag);
  };
  index.Canvas = new Proxy(index.Canvas as object, {
    construct(target, args) {
      return countResult(Reflect.construct(target as new (...a: unknown[]) => object, args), args[2]);
    },
  });
  process.emitWarning('@napi-rs/canvas was loaded before the native-object census: objects made through bindings imported earlier are not counted', {
    code: 'CHARTD_NATIVE_CENSUS',
  });
}

/** Live native objects of this process by kind (a copy). */
export function nativeCounts(): NativeCounts {
  return {
    canvas: { ...tallies.canvas },
    svg_canvas: { ...tallies.svg_canvas },
    image: { ...tallies.image },
    path: { ...tallies.path },
  };
}

/** Objects created since the census was installed, by kind (finalized ones included). */
export function nativeCreated(): Readonly<Record<NativeKind, number>> {
  return { ...created };
}

export function nativeCensusState(): NativeCensusState {
  return state;
}

// Loaded with --require (or imported): counting starts now.
installNativeCensus();
