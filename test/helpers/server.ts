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
  const options = { ...resolveServiceOptions({}, {}), port: 0, host: '127.0.0.1', adminPort: 0, workers: 2, logLevel: 'silent', ...overrides };
  const imports = [...(setup.faultHooks ? [FAULT_HOOKS_URL] : []), ...(setup.workerImports ?? [])];
  return startService(options, { workerExecArgv: imports.flatMap((url) => ['--import', url]), readyTimeoutMs: setup.readyTimeoutMs });
}

export function chartUrl(base: string, params: Record<string, string | number>): string {
  const query = Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base}/chart?${query}`;
}
