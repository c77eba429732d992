import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Function as PprofFunction, Line, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';

/** A V8 call frame, as the inspector's profilers report it. */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number; // 0-based
  columnNumber: number;
}

/** One stack: leaf first, root last, with its sample values. */
export interface StackSample {
  frames: CallFrame[];
  values: number[];
}

/** Where a compiled frame came from: its source file (absolute path) and 1-based line. */
interface SourcePosition {
  file: string;
  line: number;
}

/** Source maps by compiled file, read once per process; null when the file has none. */
const sourceMaps = new Map<string, SourceMap | null>();

function sourceMapOf(file: string): SourceMap | null {
  let map = sourceMaps.get(file);
  if (map === undefined) {
    try {
      // tsc writes dist/**/*.js.map next to each file (tsconfig sourceMap); modules without one keep their own positions.
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
    } catch {
      map = null;
    }
    sourceMaps.set(file, map);
  }
  return map;
}

/**
 * The source position of a frame in compiled code (chartd's dist/**\/*.js) from its
 * source map: src/**\/*.ts and its line, so `pprof -list` and `-lines` show the
 * TypeScript. Frames of files without a map are left as they are.
 */
export function originalPosition(file: string, line0: number, column0: number): SourcePosition | undefined {
  if (!file.endsWith('.js') || file.includes('/node_modules/')) return undefined;
  const entry = sourceMapOf(file)?.findEntry(line0, column0);
  if (!entry || !('originalSource' in entry) || typeof entry.originalSource !== 'string') return undefined;
  const source = new URL(entry.originalSource, pathToFileURL(file));
  return { file: source.protocol === 'file:' ? fileURLToPath(source) : source.href, line: entry.originalLine + 1 };
}

/**
 * Builds a gzipped pprof profile (what `go tool pprof` reads) from stacks of V8
 * call frames. Functions are keyed by name and script, locations by line, so
 * pprof can show both functions (-top) and lines (-lines); frames of chartd's
 * compiled code are mapped back to src/**\/*.ts through tsc's source maps.
 */
export function encodePprof(options: {
  sampleTypes: ReadonlyArray<readonly [type: string, unit: string]>;
  samples: StackSample[];
  periodType: readonly [type: string, unit: string];
  period: number;
  durationNanos?: number;
  /** Shown by `go tool pprof -comments`: what the profile covers. */
  comments?: readonly string[];
}): Buffer {
  const strings = new StringTable();
  const functions = new Map<string, PprofFunction>();
  const locations = new Map<string, Location>();
  const locationFor = (frame: CallFrame): number => {
    const name = frame.functionName || '(anonymous)';
    const compiled = frame.url ? frame.url.replace(/^file:\/\//, '') : '(native)';
    const original = frame.url ? originalPosition(compiled, frame.lineNumber, frame.columnNumber) : undefined;
    const file = original?.file ?? compiled;
    const functionKey = `${name}\0${file}`;
    let fn = functions.get(functionKey);
    if (!fn) {
      fn = new PprofFunction({ id: functions.size + 1, name: strings.dedup(name), systemName: strings.dedup(name), filename: strings.dedup(file) });
      functions.set(functionKey, fn);
    }
    const line = original?.line ?? frame.lineNumber + 1;
    const locationKey = `${functionKey}\0${line}`;
    let location = locations.get(locationKey);
    if (!location) {
      location = new Location({ id: locations.size + 1, line: [new Line({ functionId: fn.id, line })] });
      locations.set(locationKey, location);
    }
    return Number(location.id);
  };
  const samples = options.samples.map(
    (sample) => new Sample({ locationId: sample.frames.map(locationFor), value: sample.values }),
  );
  const periodType = new ValueType({ type: strings.dedup(options.periodType[0]), unit: strings.dedup(options.periodType[1]) });
  const profile = new Profile({
    sampleType: options.sampleTypes.map(([type, unit]) => new ValueType({ type: strings.dedup(type), unit: strings.dedup(unit) })),
    sample: samples,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos: BigInt(Date.now()) * 1_000_000n,
    durationNanos: options.durationNanos ?? 0,
    periodType,
    period: options.period,
    comment: (options.comments ?? []).map((text) => strings.dedup(text)),
  });
  return gzipSync(profile.encode());
}
