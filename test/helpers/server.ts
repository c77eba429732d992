import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveServiceOptions, type ServiceOptions } from '../../src/options.js';
import { startService, type RunningService } from '../../src/service.js';

/** The fault-injection module (test/fixtures/fault-hooks.ts) as a URL `--import` takes. */
export const FAULT_HOOKS_URL = new URL('../fixtures/fault-hooks.js', import.meta.url).href;

/** NODE_OPTIONS that load the fault hooks into the workers of a chartd started as a child process. */
export const FAULT_HOOKS_NODE_OPTIONS = `--import=${FAULT_HOOKS_URL}`;

export interface TestServiceSetup {
  /** Preload test/fixtures/fault-hooks into the render workers (configs with `options.plugins.chartdTest`). */
  faultHooks?: boolean;
  /** More modules to preload into the workers (URLs `--import` takes). */
  workerImports?: string[];
  readyTimeoutMs?: number;
}

/** Starts a real chartd on an ephemeral loopback port; close it in t.after. */
export async function startTestService(overrides: Partial<ServiceOptions> = {}, setup: TestServiceSetup = {}): Promise<RunningService> {
  // The render cache is off unless a test asks for it: most tests send one chart again and again
  // and count what the workers did with it.
  const options = { ...resolveServiceOptions({}, {}), port: 0, host: '127.0.0.1', adminPort: 0, workers: 2, logLevel: 'silent', renderCacheMb: 0, ...overrides };
  // Stored charts go to a directory of this service's own, removed when it closes, unless the test names one.
  const ownDataDir = overrides.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'chartd-test-data-')) : undefined;
  if (ownDataDir) options.dataDir = ownDataDir;
  const imports = [...(setup.faultHooks ? [FAULT_HOOKS_URL] : []), ...(setup.workerImports ?? [])];
  let service: RunningService;
  try {
    service = await startService(options, { workerExecArgv: imports.flatMap((url) => ['--import', url]), readyTimeoutMs: setup.readyTimeoutMs });
  } catch (error) {
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    throw error;
  }
  if (!ownDataDir) return service;
  const close = service.close;
  service.close = () => close().finally(() => rmSync(ownDataDir, { recursive: true, force: true }));
  return service;
}

export function chartUrl(base: string, params: Record<string, string | number>): string {
  const query = Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base}/chart?${query}`;
}
