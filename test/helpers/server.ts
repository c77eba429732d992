import { resolveServiceOptions, type ServiceOptions } from '../../src/options.js';
import { startService, type RunningService } from '../../src/server/service.js';

/** Starts a real chartd on an ephemeral loopback port; close it in t.after. */
export async function startTestService(overrides: Partial<ServiceOptions> = {}): Promise<RunningService> {
  const options = { ...resolveServiceOptions({}, {}), port: 0, host: '127.0.0.1', adminPort: 0, workers: 2, logLevel: 'silent', ...overrides };
  return startService(options);
}

export function chartUrl(base: string, params: Record<string, string | number>): string {
  const query = Object.entries(params)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
  return `${base}/chart?${query}`;
}
