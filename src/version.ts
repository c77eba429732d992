import { readFileSync } from 'node:fs';

/** chartd's version, from package.json (compiled files live in dist/src, two levels below it). */
export const CHARTD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
