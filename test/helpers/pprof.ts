import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';

/** A gzipped pprof heap profile's functions by flat inuse_space, largest first (what `go tool pprof -top` lists). */
export function topFunctions(gzipped: Buffer): Array<[string, number]> {
  const profile = Profile.decode(gunzipSync(gzipped));
  const strings = profile.stringTable.strings;
  const functionName = new Map(profile.function.map((fn) => [Number(fn.id), strings[Number(fn.name)]!]));
  const locationFunction = new Map(profile.location.map((loc) => [Number(loc.id), Number(loc.line[0]!.functionId)]));
  const spaceIndex = profile.sampleType.findIndex((type) => strings[Number(type.type)] === 'inuse_space');
  assert.ok(spaceIndex >= 0, 'profile has no inuse_space sample type');
  const flat = new Map<string, number>();
  for (const sample of profile.sample) {
    const leaf = functionName.get(locationFunction.get(Number(sample.locationId[0]))!)!;
    flat.set(leaf, (flat.get(leaf) ?? 0) + Number(sample.value[spaceIndex]));
  }
  return [...flat.entries()].sort((a, b) => b[1] - a[1]);
}
