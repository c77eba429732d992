import { POOL_DEFAULTS } from './pool/pool-options.js';

/**
 * Service options: one table, each reachable by flag and environment variable.
 * docs/OPERATIONS.md and `chartd serve --help` are generated from it in spirit
 * and checked against it by test/options.test.ts.
 */
export interface ServiceOptions {
  port: number;
  host: string;
  workers: number;
  queue: number;
  timeoutMs: number;
  drainTimeoutMs: number;
  maxRendersPerWorker: number;
  workerMemoryMb: number;
  workerMemoryLimitMb: number;
  workerHeapMb: number;
  bodyLimitBytes: number;
  rateLimit: number;
  rateLimitWindowMs: number;
  cacheMaxAgeSeconds: number;
  errorImages: 'auto' | 'always' | 'never';
  logLevel: string;
  adminPort: number;
  adminHost: string;
  adminToken: string;
  leakWindowMs: number;
  leakIntervalMs: number;
  leakThresholdPercent: number;
  leakRecycle: 'on' | 'off';
}

type Kind = 'integer' | 'string' | 'enum';

export interface OptionSpec {
  key: keyof ServiceOptions;
  flag: string;
  env: string;
  kind: Kind;
  values?: readonly string[];
  min?: number;
  description: string;
}

export const SERVICE_DEFAULTS: Readonly<ServiceOptions> = Object.freeze({
  port: 3400,
  host: '127.0.0.1', // loopback: put a proxy in front, or set 0.0.0.0 deliberately
  workers: POOL_DEFAULTS.workers, // one per core
  queue: POOL_DEFAULTS.maxQueue, // jobs
  timeoutMs: POOL_DEFAULTS.timeoutMs, // 10 seconds
  drainTimeoutMs: POOL_DEFAULTS.drainTimeoutMs, // 30 seconds
  maxRendersPerWorker: POOL_DEFAULTS.maxRendersPerWorker, // renders
  workerMemoryMb: POOL_DEFAULTS.workerMemoryBudgetBytes / 1024 / 1024, // MiB
  workerMemoryLimitMb: POOL_DEFAULTS.workerMemoryLimitBytes / 1024 / 1024, // MiB
  workerHeapMb: POOL_DEFAULTS.workerHeapLimitMb, // MiB
  bodyLimitBytes: 2 * 1024 * 1024, // 2 MiB
  rateLimit: 0, // requests per window per client IP; 0 = off
  rateLimitWindowMs: 60_000, // 1 minute
  cacheMaxAgeSeconds: 604_800, // 7 days, as QuickChart
  errorImages: 'auto',
  logLevel: 'info',
  adminPort: 9464,
  adminHost: '127.0.0.1', // loopback: a token is required to listen anywhere else
  adminToken: '',
  leakWindowMs: 1_800_000, // 30 minutes
  leakIntervalMs: 10_000, // 10 seconds
  leakThresholdPercent: 10, // % growth per hour
  leakRecycle: 'off',
});

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', env: 'CHARTD_PORT', kind: 'integer', min: 0, description: 'public HTTP port' },
  { key: 'host', flag: 'host', env: 'CHARTD_HOST', kind: 'string', description: 'public listen address' },
  { key: 'workers', flag: 'workers', env: 'CHARTD_WORKERS', kind: 'integer', min: 1, description: 'render worker processes (at most this many alive, retiring ones included)' },
  { key: 'queue', flag: 'queue', env: 'CHARTD_QUEUE', kind: 'integer', min: 0, description: 'renders waiting for a worker before 503' },
  { key: 'timeoutMs', flag: 'timeout', env: 'CHARTD_TIMEOUT_MS', kind: 'integer', min: 1, description: 'deadline of one render from arrival, ms (504 past it; the worker process is killed)' },
  { key: 'drainTimeoutMs', flag: 'drain-timeout', env: 'CHARTD_DRAIN_TIMEOUT_MS', kind: 'integer', min: 0, description: 'on SIGTERM, how long accepted requests may take to finish, ms' },
  { key: 'maxRendersPerWorker', flag: 'max-renders-per-worker', env: 'CHARTD_MAX_RENDERS_PER_WORKER', kind: 'integer', min: 1, description: 'recycle a worker after this many renders' },
  { key: 'workerMemoryMb', flag: 'worker-memory', env: 'CHARTD_WORKER_MEMORY_MB', kind: 'integer', min: 1, description: 'recycle a worker between renders when its resident memory (RSS, native included) passes this, MiB' },
  { key: 'workerMemoryLimitMb', flag: 'worker-memory-limit', env: 'CHARTD_WORKER_MEMORY_LIMIT_MB', kind: 'integer', min: 1, description: 'kill a worker whose resident memory passes this mid-render (that request: 400 RENDER_OUT_OF_MEMORY), MiB' },
  { key: 'workerHeapMb', flag: 'worker-heap', env: 'CHARTD_WORKER_HEAP_MB', kind: 'integer', min: 16, description: 'V8 heap limit of each worker process, MiB (a render past it fails alone: RENDER_OUT_OF_MEMORY)' },
  { key: 'bodyLimitBytes', flag: 'body-limit', env: 'CHARTD_BODY_LIMIT_BYTES', kind: 'integer', min: 1024, description: 'largest POST body, bytes (413 past it)' },
  { key: 'rateLimit', flag: 'rate-limit', env: 'CHARTD_RATE_LIMIT', kind: 'integer', min: 0, description: 'requests per window per client IP, 0 = off (429 past it)' },
  { key: 'rateLimitWindowMs', flag: 'rate-limit-window', env: 'CHARTD_RATE_LIMIT_WINDOW_MS', kind: 'integer', min: 1, description: 'rate limit window, ms' },
  { key: 'cacheMaxAgeSeconds', flag: 'cache-max-age', env: 'CHARTD_CACHE_MAX_AGE', kind: 'integer', min: 0, description: 'Cache-Control max-age of images, seconds' },
  { key: 'errorImages', flag: 'error-images', env: 'CHARTD_ERROR_IMAGES', kind: 'enum', values: ['auto', 'always', 'never'], description: 'draw errors as images: auto = for GET requests that accept images (<img> embeds)' },
  { key: 'logLevel', flag: 'log-level', env: 'CHARTD_LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], description: 'log level' },
  { key: 'adminPort', flag: 'admin-port', env: 'CHARTD_ADMIN_PORT', kind: 'integer', min: 0, description: 'admin port: /metrics, /debug/*, health' },
  { key: 'adminHost', flag: 'admin-host', env: 'CHARTD_ADMIN_HOST', kind: 'string', description: 'admin listen address (a token is required unless loopback)' },
  { key: 'adminToken', flag: 'admin-token', env: 'CHARTD_ADMIN_TOKEN', kind: 'string', description: 'bearer token for the admin port (health checks excepted)' },
  { key: 'leakWindowMs', flag: 'leak-window', env: 'CHARTD_LEAK_WINDOW_MS', kind: 'integer', min: 1000, description: 'leak detector sliding window, ms' },
  { key: 'leakIntervalMs', flag: 'leak-interval', env: 'CHARTD_LEAK_INTERVAL_MS', kind: 'integer', min: 100, description: 'leak detector sampling interval, ms' },
  { key: 'leakThresholdPercent', flag: 'leak-threshold', env: 'CHARTD_LEAK_THRESHOLD_PERCENT', kind: 'integer', min: 1, description: 'memory growth per hour (% of baseline) that the leak detector flags' },
  { key: 'leakRecycle', flag: 'leak-recycle', env: 'CHARTD_LEAK_RECYCLE', kind: 'enum', values: ['on', 'off'], description: 'recycle a worker the leak detector flags' },
];

/** Loopback listen addresses: reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Resolves options: flags win over environment, environment over defaults. */
export function resolveServiceOptions(
  flags: Partial<Record<string, string | boolean | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): ServiceOptions {
  const options = { ...SERVICE_DEFAULTS } as Record<keyof ServiceOptions, unknown>;
  for (const spec of OPTION_SPECS) {
    const flagValue = flags[spec.flag];
    const raw = typeof flagValue === 'string' ? flagValue : env[spec.env];
    if (raw === undefined || raw === '') continue;
    const source = typeof flagValue === 'string' ? `--${spec.flag}` : spec.env;
    options[spec.key] = parseOption(spec, raw, source);
  }
  const resolved = options as unknown as ServiceOptions;
  if (resolved.workerMemoryLimitMb < resolved.workerMemoryMb) {
    throw new TypeError(
      `the worker memory limit (${resolved.workerMemoryLimitMb} MiB, --worker-memory-limit) must be at least the recycle budget (${resolved.workerMemoryMb} MiB, --worker-memory)`,
    );
  }
  if (!isLoopbackHost(resolved.adminHost) && !resolved.adminToken) {
    throw new TypeError(
      `the admin port would listen on ${resolved.adminHost}, beyond this machine, without a token: set --admin-token / CHARTD_ADMIN_TOKEN (heap snapshots hold every secret in memory)`,
    );
  }
  return resolved;
}

function parseOption(spec: OptionSpec, raw: string, source: string): number | string {
  switch (spec.kind) {
    case 'integer': {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < (spec.min ?? 0)) {
        throw new TypeError(`${source} must be an integer >= ${spec.min ?? 0}, got "${raw}"`);
      }
      return value;
    }
    case 'enum':
      if (!spec.values!.includes(raw)) throw new TypeError(`${source} must be one of ${spec.values!.join(', ')}, got "${raw}"`);
      return raw;
    case 'string':
      return raw;
  }
}
