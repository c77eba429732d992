import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root, from dist/bench/load/ where this file runs. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** bench/out/<prefix>-<date>: one directory per run, sortable by name. */
export function defaultOutDir(prefix: string, now = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
  return join(REPO_ROOT, 'bench', 'out', `${prefix}-${stamp}`);
}

/** The fault-injection fixture (test/fixtures/fault-hooks.ts), compiled, as a URL `--import` takes. */
export const FAULT_HOOKS_URL = new URL('../../test/fixtures/fault-hooks.js', import.meta.url).href;
