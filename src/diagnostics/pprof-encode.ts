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

/**
 * Builds a gzipped pprof profile (what `go tool pprof` reads) from stacks of V8
 * call frames. Functions are keyed by name and script, locations by line, so
 * pprof can show both functions (-top) and lines (-lines).
 */
export function encodePprof(options: {
  sampleTypes: ReadonlyArray<readonly [type: string, unit: string]>;
  samples: StackSample[];
  periodType: readonly [type: string, unit: string];
  period: number;
  durationNanos?: number;
}): Buffer {
  const strings = new StringTable();
  const functions = new Map<string, PprofFunction>();
  const locations = new Map<string, Location>();
  const locationFor = (frame: CallFrame): number => {
    const name = frame.functionName || '(anonymous)';
    const file = frame.url ? frame.url.replace(/^file:\/\//, '') : '(native)';
    const functionKey = `${name}\0${file}`;
    let fn = functions.get(functionKey);
    if (!fn) {
      fn = new PprofFunction({ id: functions.size + 1, name: strings.dedup(name), systemName: strings.dedup(name), filename: strings.dedup(file) });
      functions.set(functionKey, fn);
    }
    const line = frame.lineNumber + 1;
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
  });
  return gzipSync(profile.encode());
}
