import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveServiceOptions, type ServiceOptions } from '../../src/options.js';
import { startService, type RunningService } from '../../src/service.js';
import type { WarmUp } from '../../src/diagnostics/warm-up.js';

/** bin/chartd.js, from the compiled test helpers in dist/test/helpers. */
export const CHARTD_BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));

/** The fault-injection module (test/fixtures/fault-hooks.ts) as a URL `--import` takes. */
export const FAULT_HOOKS_URL = new URL('../fixtures/fault-hooks.js', import.meta.url).href;

/** The planted leak (test/fixtures/planted-leak.ts) as a URL `--import` takes, and the function its heap profile must name. */
export const PLANTED_LEAK_URL = new URL('../fixtures/planted-leak.js', import.meta.url).href;
export const PLANTED_FUNCTION = 'plantedLeakRetainConfig';

/** NODE_OPTIONS that load the fault hooks into the workers of a chartd started as a child process. */
export const FAULT_HOOKS_NODE_OPTIONS = `--import=${FAULT_HOOKS_URL}`;

export interface TestServiceSetup {
  /** Preload test/fixtures/fault-hooks into the render workers (configs with `options.plugins.chartdTest`). */
  faultHooks?: boolean;
  /** More modules to preload into the workers (URLs `--import` takes). */
  workerImports?: string[];
  /** More Node.js flags for the render workers (e.g. --expose-gc). */
  workerFlags?: string[];
  readyTimeoutMs?: number;
  /** When a process's warm-up is over (the leak detector's and `?since=warmup` profiles'); default WARM_UP. */
  warmUp?: WarmUp;
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
    service = await startService(options, {
      workerExecArgv: [...(setup.workerFlags ?? []), ...imports.flatMap((url) => ['--import', url])],
      readyTimeoutMs: setup.readyTimeoutMs,
      warmUp: setup.warmUp,
    });
  } catch (error) {
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    throw error;
  }
  if (!ownDataDir) return service;
  const close = service.close;
  service.close = () => close().finally(() => rmSync(ownDataDir, { recursive: true, force: true }));
  service[Symbol.asyncDispose] = service.close;
  return service;
}

export function chartUrl(base: string, params: Record<string, string | number>): string {
  const query = Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base}/chart?${query}`;
}

/** A `chartd serve` started as a child process, its JSON log lines collected. */
export interface ServedChild {
  child: ChildProcess;
  /** http://host:port the service logged it listens on. */
  base: string;
  /** Every stdout line so far (pino JSON). */
  lines: string[];
}

/** Starts `chartd serve <args>` (ports 0, log level info), waits until it listens; killed in t.after. */
export async function serveChild(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServedChild> {
  const child = spawn(process.execPath, [CHARTD_BIN, 'serve', '--port', '0', '--admin-port', '0', '--log-level', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CHARTD_LOG_LEVEL: 'info', ...env },
  });
  t.after(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const base = await new Promise<string>((resolve, reject) => {
    let pending = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.url && /listening on/.test(entry.msg ?? '')) resolve(entry.url);
      }
    });
    child.once('exit', () => reject(new Error(`chartd exited: ${stderr}${lines.join('\n')}`)));
  });
  return { child, base, lines };
}
