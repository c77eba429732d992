import { readFileSync } from 'node:fs';
import { POOL_DEFAULTS } from './pool/pool-options.js';
import { OUTPUT_FORMATS, type OutputFormat } from './render/job.js';
import { DEFAULT_LIMITS } from './render/limits.js';
import { SigningKeyring } from './signing.js';

/**
 * Service options: one table, each reachable by flag and environment variable.
 * docs/OPERATIONS.md and `chartd serve --help` are generated from it in spirit
 * and checked against it by test/options.test.ts.
 */
export interface ServiceOptions {
  port: number;
  host: string;
  workers: number;
  /** 'auto': QUEUE_PER_WORKER × workers. */
  queue: number | 'auto';
  /** Longest expected queue wait before 503, ms (0: only --queue bounds it). */
  maxQueueWaitMs: number;
  timeoutMs: number;
  drainTimeoutMs: number;
  /** On SIGTERM, how long /readyz fails while requests are still served, before the listener closes. */
  drainDelayMs: number;
  maxRendersPerWorker: number;
  workerMemoryMb: number;
  workerMemoryLimitMb: number;
  workerHeapMb: number;
  bodyLimitBytes: number;
  /** 'auto': from the process's open-files limit (resolveMaxConnections). */
  maxConnections: number | 'auto';
  maxConnectionsPerClient: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  sendTimeoutMs: number;
  /** '' for the defaults, or "<MiB>" and/or "format=<MiB>" pairs (resolveOutputLimits). */
  maxOutput: string;
  /** '' (off), 'true', a hop count, or addresses and CIDR ranges (fastify's trustProxy). */
  trustProxy: string;
  clientBudgetPercent: number;
  clientBudgetWindowMs: number;
  scripts: 'on' | 'off';
  rateLimit: number;
  rateLimitWindowMs: number;
  /** '' (no keys), or a JSON file of API keys and their limits (src/server/api-keys.ts). */
  apiKeysFile: string;
  cacheMaxAgeSeconds: number;
  renderCacheMb: number;
  renderCacheTtlSeconds: number;
  /** Where the embedded chart store keeps its SQLite file (created if missing). */
  dataDir: string;
  /** 'sqlite' (the embedded file under dataDir), or a redis://, rediss://, postgres:// or postgresql:// URL (resolveStoreSpec). */
  store: string;
  /** '' (from each request's protocol and Host), or the base of stored charts' URLs, e.g. https://charts.example.com. */
  publicUrl: string;
  chartTtlSeconds: number;
  storeMaxCharts: number;
  storeMaxMb: number;
  errorImages: 'auto' | 'always' | 'never';
  logLevel: string;
  adminPort: number;
  adminHost: string;
  adminToken: string;
  leakWindowMs: number;
  leakIntervalMs: number;
  leakThresholdPercent: number;
  leakRecycle: 'on' | 'off';
  /** '' (no accounts: signature parameters are ignored), or a JSON file of signing accounts (src/signing.ts SigningKeyring). */
  signingKeys: string;
  /** Refuse unsigned requests on the image routes (403 SIGNATURE_REQUIRED). */
  requireSignature: boolean;
}

type Kind = 'integer' | 'integer-or-auto' | 'string' | 'enum' | 'output-sizes' | 'boolean';

export interface OptionSpec {
  key: keyof ServiceOptions;
  flag: string;
  env: string;
  kind: Kind;
  values?: readonly string[];
  min?: number;
  description: string;
}

/**
 * Queue places per worker when --queue is auto. Queued renders wait behind the
 * running ones: at ~20-150 ms a render (bench/RESULTS.md), 8 per worker keeps
 * the wait of an accepted request to about 0.2-1.2 s; past it, shedding with 503
 * costs the client less than waiting (64 places for 2 workers let p99 reach 3.3 s).
 */
export const QUEUE_PER_WORKER = 8;

export const SERVICE_DEFAULTS: Readonly<ServiceOptions> = Object.freeze({
  port: 3400,
  host: '127.0.0.1', // loopback: put a proxy in front, or set 0.0.0.0 deliberately
  workers: POOL_DEFAULTS.workers, // one per core
  queue: 'auto', // QUEUE_PER_WORKER renders per worker
  // 2 seconds: what a client can wait behind others and still be glad it did (a tenth of
  // QuickChart's clients' usual timeouts); heavy charts are shed sooner, light ones queue to --queue.
  maxQueueWaitMs: 2_000,
  timeoutMs: POOL_DEFAULTS.timeoutMs, // 10 seconds
  drainTimeoutMs: POOL_DEFAULTS.drainTimeoutMs, // 30 seconds
  drainDelayMs: 5_000, // 5 seconds: a few failed readiness probes (Kubernetes endpoints, a load balancer's health check) before the listener closes
  maxRendersPerWorker: POOL_DEFAULTS.maxRendersPerWorker, // renders
  workerMemoryMb: POOL_DEFAULTS.workerMemoryBudgetBytes / 1024 / 1024, // MiB
  workerMemoryLimitMb: POOL_DEFAULTS.workerMemoryLimitBytes / 1024 / 1024, // MiB
  workerHeapMb: POOL_DEFAULTS.workerHeapLimitMb, // MiB
  bodyLimitBytes: 2 * 1024 * 1024, // 2 MiB
  maxConnections: 'auto', // half the open-files limit less 64, at most 10,000
  maxConnectionsPerClient: 128, // connections from one address; 0 = no cap
  headersTimeoutMs: 10_000, // 10 seconds for a request's headers to arrive
  requestTimeoutMs: 30_000, // 30 seconds for a whole request (headers and body)
  keepAliveTimeoutMs: 5_000, // an idle keep-alive connection is closed after 5 seconds
  sendTimeoutMs: 30_000, // a response not taken by its client in 30 seconds is dropped
  maxOutput: '', // DEFAULT_LIMITS.maxOutputBytes
  trustProxy: '', // clients are the sockets' addresses
  clientBudgetPercent: 25, // % of the pool's worker time one client may use while others wait
  clientBudgetWindowMs: 60_000, // 1 minute
  scripts: 'on', // JavaScript in configs, in a WebAssembly sandbox per render
  rateLimit: 0, // requests per window per client (address or API key); 0 = off
  rateLimitWindowMs: 60_000, // 1 minute
  apiKeysFile: '', // no API keys: every client is counted by address
  cacheMaxAgeSeconds: 604_800, // 7 days, as QuickChart
  renderCacheMb: 64, // MiB of rendered images kept in the main process; 0 = off
  renderCacheTtlSeconds: 600, // 10 minutes
  dataDir: './data', // relative to the working directory
  store: 'sqlite', // the embedded file under dataDir; a Redis or PostgreSQL URL to share stored charts between replicas
  publicUrl: '', // from each request: its protocol (X-Forwarded-Proto only with --trust-proxy) and Host
  chartTtlSeconds: 2_592_000, // 30 days (QuickChart's hosted API: 3 days free, 6 months paid)
  storeMaxCharts: 100_000, // stored charts; past it 507 STORE_FULL
  storeMaxMb: 1_024, // MiB of stored request bodies; past it 507 STORE_FULL
  errorImages: 'auto',
  logLevel: 'info',
  adminPort: 9464,
  adminHost: '127.0.0.1', // loopback: a token is required to listen anywhere else
  adminToken: '',
  leakWindowMs: 1_800_000, // 30 minutes
  leakIntervalMs: 10_000, // 10 seconds
  leakThresholdPercent: 10, // % growth per hour
  leakRecycle: 'off',
  signingKeys: '',
  requireSignature: false,
});

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', env: 'CHARTD_PORT', kind: 'integer', min: 0, description: 'public HTTP port' },
  { key: 'host', flag: 'host', env: 'CHARTD_HOST', kind: 'string', description: 'public listen address' },
  { key: 'workers', flag: 'workers', env: 'CHARTD_WORKERS', kind: 'integer', min: 1, description: 'render worker processes (at most this many alive, retiring ones included)' },
  { key: 'queue', flag: 'queue', env: 'CHARTD_QUEUE', kind: 'integer-or-auto', min: 0, description: `renders waiting for a worker before 503 (auto: ${QUEUE_PER_WORKER} per worker)` },
  { key: 'maxQueueWaitMs', flag: 'max-queue-wait', env: 'CHARTD_MAX_QUEUE_WAIT_MS', kind: 'integer', min: 0, description: 'longest expected wait in the queue, ms (from recent render times; past it 503 QUEUE_FULL and /readyz saturated), 0 = only --queue' },
  { key: 'timeoutMs', flag: 'timeout', env: 'CHARTD_TIMEOUT_MS', kind: 'integer', min: 1, description: 'deadline of one render from arrival, ms (504 past it; the worker process is killed)' },
  { key: 'drainTimeoutMs', flag: 'drain-timeout', env: 'CHARTD_DRAIN_TIMEOUT_MS', kind: 'integer', min: 0, description: 'on SIGTERM, how long accepted requests may take to finish, ms' },
  { key: 'drainDelayMs', flag: 'drain-delay', env: 'CHARTD_DRAIN_DELAY_MS', kind: 'integer', min: 0, description: 'on SIGTERM, how long chartd goes on serving with /readyz failing before it stops accepting, ms (for load balancers to take it out of rotation first; SIGINT skips it)' },
  { key: 'maxRendersPerWorker', flag: 'max-renders-per-worker', env: 'CHARTD_MAX_RENDERS_PER_WORKER', kind: 'integer', min: 1, description: 'recycle a worker after this many renders' },
  { key: 'workerMemoryMb', flag: 'worker-memory', env: 'CHARTD_WORKER_MEMORY_MB', kind: 'integer', min: 1, description: 'recycle a worker between renders when its resident memory (RSS, native included) passes this, MiB' },
  { key: 'workerMemoryLimitMb', flag: 'worker-memory-limit', env: 'CHARTD_WORKER_MEMORY_LIMIT_MB', kind: 'integer', min: 1, description: 'kill a worker whose resident memory passes this mid-render (that request: 400 RENDER_OUT_OF_MEMORY), MiB' },
  { key: 'workerHeapMb', flag: 'worker-heap', env: 'CHARTD_WORKER_HEAP_MB', kind: 'integer', min: 16, description: 'V8 heap limit of each worker process, MiB (a render past it fails alone: RENDER_OUT_OF_MEMORY)' },
  { key: 'bodyLimitBytes', flag: 'body-limit', env: 'CHARTD_BODY_LIMIT_BYTES', kind: 'integer', min: 1024, description: 'largest POST body, bytes (413 past it)' },
  { key: 'maxConnections', flag: 'max-connections', env: 'CHARTD_MAX_CONNECTIONS', kind: 'integer-or-auto', min: 1, description: 'open connections on the public port (auto: half the open-files limit less 64, at most 10000); past it 503 and close' },
  { key: 'maxConnectionsPerClient', flag: 'max-connections-per-client', env: 'CHARTD_MAX_CONNECTIONS_PER_CLIENT', kind: 'integer', min: 0, description: 'open connections from one address, 0 = no cap (behind a proxy: its address)' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout', env: 'CHARTD_HEADERS_TIMEOUT_MS', kind: 'integer', min: 100, description: 'time for a request\'s headers to arrive, ms (408 past it)' },
  { key: 'requestTimeoutMs', flag: 'request-timeout', env: 'CHARTD_REQUEST_TIMEOUT_MS', kind: 'integer', min: 100, description: 'time for a whole request (headers and body) to arrive, ms (408 past it)' },
  { key: 'keepAliveTimeoutMs', flag: 'keep-alive-timeout', env: 'CHARTD_KEEP_ALIVE_TIMEOUT_MS', kind: 'integer', min: 100, description: 'an idle keep-alive connection is closed after this, ms (above your load balancer\'s idle timeout)' },
  { key: 'sendTimeoutMs', flag: 'send-timeout', env: 'CHARTD_SEND_TIMEOUT_MS', kind: 'integer', min: 100, description: 'a response its client has not taken within this is dropped, ms' },
  { key: 'maxOutput', flag: 'max-output', env: 'CHARTD_MAX_OUTPUT', kind: 'output-sizes', description: 'largest encoded image, MiB: one number for every format and/or format=MiB pairs, e.g. "svg=4,pdf=4" (413 OUTPUT_TOO_LARGE past it)' },
  { key: 'trustProxy', flag: 'trust-proxy', env: 'CHARTD_TRUST_PROXY', kind: 'string', description: 'take the client address from X-Forwarded-For when the peer is one of these proxies: addresses or CIDRs (comma-separated), a hop count, or true' },
  { key: 'clientBudgetPercent', flag: 'client-budget', env: 'CHARTD_CLIENT_BUDGET_PERCENT', kind: 'integer', min: 0, description: 'share of the workers\' time one client may use per window while others wait, %, 0 = off (429 past it)' },
  { key: 'scripts', flag: 'scripts', env: 'CHARTD_SCRIPTS', kind: 'enum', values: ['on', 'off'], description: 'run JavaScript in configs (functions, new Date(), helpers) in a sandbox per render; off: 400 CONFIG_FUNCTION' },
  { key: 'clientBudgetWindowMs', flag: 'client-budget-window', env: 'CHARTD_CLIENT_BUDGET_WINDOW_MS', kind: 'integer', min: 1000, description: 'client budget window, ms' },
  { key: 'rateLimit', flag: 'rate-limit', env: 'CHARTD_RATE_LIMIT', kind: 'integer', min: 0, description: 'requests per window per client (address, or API key), 0 = off (429 past it); shared by replicas when --store is Redis or PostgreSQL' },
  { key: 'rateLimitWindowMs', flag: 'rate-limit-window', env: 'CHARTD_RATE_LIMIT_WINDOW_MS', kind: 'integer', min: 1, description: 'rate limit window, ms' },
  { key: 'apiKeysFile', flag: 'api-keys', env: 'CHARTD_API_KEYS_FILE', kind: 'string', description: 'JSON file of API keys, each with a name and its own rate limit and client budget; read at start (401 API_KEY_INVALID for a key not in it)' },
  { key: 'cacheMaxAgeSeconds', flag: 'cache-max-age', env: 'CHARTD_CACHE_MAX_AGE', kind: 'integer', min: 0, description: 'Cache-Control max-age of images, seconds' },
  { key: 'renderCacheMb', flag: 'render-cache', env: 'CHARTD_RENDER_CACHE_MB', kind: 'integer', min: 0, description: 'rendered images kept for identical requests, MiB (LRU), 0 = off' },
  { key: 'renderCacheTtlSeconds', flag: 'render-cache-ttl', env: 'CHARTD_RENDER_CACHE_TTL', kind: 'integer', min: 1, description: 'how long a rendered image is kept for identical requests, seconds' },
  { key: 'dataDir', flag: 'data-dir', env: 'CHARTD_DATA_DIR', kind: 'string', description: 'directory of the embedded chart store (SQLite file charts.sqlite), created if missing' },
  { key: 'store', flag: 'store', env: 'CHARTD_STORE', kind: 'string', description: 'where stored charts live: sqlite (the file under --data-dir), or a redis://, rediss://, postgres:// or postgresql:// URL shared by replicas' },
  { key: 'publicUrl', flag: 'public-url', env: 'CHARTD_PUBLIC_URL', kind: 'string', description: 'base URL of the URLs /chart/create answers, e.g. https://charts.example.com (default: the request\'s protocol and Host)' },
  { key: 'chartTtlSeconds', flag: 'chart-ttl', env: 'CHARTD_CHART_TTL', kind: 'integer', min: 1, description: 'how long a stored chart (/chart/create) can be rendered, seconds (404 CHART_NOT_FOUND after)' },
  { key: 'storeMaxCharts', flag: 'store-max-charts', env: 'CHARTD_STORE_MAX_CHARTS', kind: 'integer', min: 1, description: 'stored charts kept at most (507 STORE_FULL past it)' },
  { key: 'storeMaxMb', flag: 'store-max-mb', env: 'CHARTD_STORE_MAX_MB', kind: 'integer', min: 1, description: 'bytes of stored chart requests kept at most, MiB (507 STORE_FULL past it)' },
  { key: 'errorImages', flag: 'error-images', env: 'CHARTD_ERROR_IMAGES', kind: 'enum', values: ['auto', 'always', 'never'], description: 'draw errors as images: auto = for GET requests that accept images (<img> embeds)' },
  { key: 'logLevel', flag: 'log-level', env: 'CHARTD_LOG_LEVEL', kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], description: 'log level' },
  { key: 'adminPort', flag: 'admin-port', env: 'CHARTD_ADMIN_PORT', kind: 'integer', min: 0, description: 'admin port: /metrics, /debug/*, health' },
  { key: 'adminHost', flag: 'admin-host', env: 'CHARTD_ADMIN_HOST', kind: 'string', description: 'admin listen address (a token is required unless loopback)' },
  { key: 'adminToken', flag: 'admin-token', env: 'CHARTD_ADMIN_TOKEN', kind: 'string', description: 'bearer token for the admin port (health checks excepted)' },
  { key: 'leakWindowMs', flag: 'leak-window', env: 'CHARTD_LEAK_WINDOW_MS', kind: 'integer', min: 1000, description: 'leak detector sliding window, ms' },
  { key: 'leakIntervalMs', flag: 'leak-interval', env: 'CHARTD_LEAK_INTERVAL_MS', kind: 'integer', min: 100, description: 'leak detector sampling interval, and how often a rendering worker forces a full GC to read its settled memory (at most once a second), ms' },
  { key: 'leakThresholdPercent', flag: 'leak-threshold', env: 'CHARTD_LEAK_THRESHOLD_PERCENT', kind: 'integer', min: 1, description: 'memory growth per hour (% of baseline) that the leak detector flags' },
  { key: 'leakRecycle', flag: 'leak-recycle', env: 'CHARTD_LEAK_RECYCLE', kind: 'enum', values: ['on', 'off'], description: 'recycle a worker the leak detector flags' },
  { key: 'signingKeys', flag: 'signing-keys', env: 'CHARTD_SIGNING_KEYS_FILE', kind: 'string', description: 'JSON file of signing accounts {"accounts":[{"id":"acme","keys":["..."]}]}: signed URLs (sig, signature) are verified against them; the first key signs, any verifies' },
  { key: 'requireSignature', flag: 'require-signature', env: 'CHARTD_REQUIRE_SIGNATURE', kind: 'boolean', description: 'refuse unsigned requests to /chart, /qr, /gchart, /chart/create and /chart/render (403 SIGNATURE_REQUIRED); needs --signing-keys' },
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
    const flagValue = typeof flags[spec.flag] === 'boolean' ? String(flags[spec.flag]) : flags[spec.flag];
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
  if (resolved.publicUrl !== '') resolved.publicUrl = resolvePublicUrl(resolved.publicUrl);
  resolveStoreSpec(resolved.store);
  // A keys file that cannot be used is a startup error, not a 403 for every request.
  if (resolved.signingKeys !== '') SigningKeyring.load(resolved.signingKeys);
  else if (resolved.requireSignature) throw new TypeError('--require-signature needs --signing-keys / CHARTD_SIGNING_KEYS_FILE (the accounts whose signatures are accepted)');
  return resolved;
}

export type StoreSpec = { type: 'sqlite' } | { type: 'redis'; url: string } | { type: 'postgres'; url: string };

/** --store as the store it names: 'sqlite', or a Redis or PostgreSQL URL. Throws a TypeError naming the option otherwise. */
export function resolveStoreSpec(text: string, source = '--store'): StoreSpec {
  const trimmed = text.trim();
  if (trimmed === 'sqlite') return { type: 'sqlite' };
  const scheme = /^([a-z]+):\/\//i.exec(trimmed)?.[1]?.toLowerCase();
  let valid = false;
  try {
    valid = new URL(trimmed).hostname !== '' || scheme === 'postgres' || scheme === 'postgresql';
  } catch {
    valid = false;
  }
  if (valid && (scheme === 'redis' || scheme === 'rediss')) return { type: 'redis', url: trimmed };
  if (valid && (scheme === 'postgres' || scheme === 'postgresql')) return { type: 'postgres', url: trimmed };
  throw new TypeError(
    `${source} must be sqlite, a redis:// or rediss:// URL (redis://host:6379/0) or a postgres:// or postgresql:// URL (postgres://user:password@host:5432/db), got "${redactUrl(trimmed)}"`,
  );
}

/** A URL with its password (if any) replaced by ***, for logs and errors. */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.href;
  } catch {
    // Not a URL: hide anything between "://" and "@", where a password would be.
    return text.replace(/:\/\/[^@/]*@/, '://***@');
  }
}

/**
 * --public-url as the base stored charts' URLs start with: an http(s) URL, perhaps
 * with a path (a proxy's prefix), no query, fragment or credentials; no trailing '/'.
 */
export function resolvePublicUrl(text: string, source = '--public-url'): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new TypeError(`${source} must be an http or https URL such as https://charts.example.com, got "${text}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    throw new TypeError(`${source} must be an http or https URL without query, fragment or credentials, got "${text}"`);
  }
  return url.href.replace(/\/+$/, '');
}

function parseOption(spec: OptionSpec, raw: string, source: string): number | string | boolean {
  switch (spec.kind) {
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new TypeError(`${source} must be true or false (or 1, 0), got "${raw}"`);
    case 'integer':
      return parseInteger(raw, spec.min ?? 0, source, '');
    case 'integer-or-auto':
      return raw === 'auto' ? raw : parseInteger(raw, spec.min ?? 0, source, ' or "auto"');
    case 'output-sizes':
      resolveOutputLimits(raw, source);
      return raw;
    case 'enum':
      if (!spec.values!.includes(raw)) throw new TypeError(`${source} must be one of ${spec.values!.join(', ')}, got "${raw}"`);
      return raw;
    case 'string':
      return raw;
  }
}

function parseInteger(raw: string, min: number, source: string, alternative: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new TypeError(`${source} must be an integer >= ${min}${alternative}, got "${raw}"`);
  return value;
}

/** The queue bound for these options: --queue, or QUEUE_PER_WORKER per worker. */
export function resolveQueue(options: Pick<ServiceOptions, 'queue' | 'workers'>): number {
  return options.queue === 'auto' ? QUEUE_PER_WORKER * options.workers : options.queue;
}

/**
 * The connection cap for these options: --max-connections, or half the
 * process's open-files limit less 64 (read from /proc/self/limits; between 64 and
 * 10,000), so that connections, and those being refused, can never take the
 * descriptors the workers, pipes and /proc reads need (past the limit, an accept
 * or a read of /proc fails with EMFILE). An explicit --max-connections is held to
 * the same share of the open-files limit (resolveConnectionCap says when it was).
 */
export function resolveMaxConnections(options: Pick<ServiceOptions, 'maxConnections'>, openFilesLimit = readOpenFilesLimit()): number {
  return resolveConnectionCap(options, openFilesLimit).maxConnections;
}

export interface ConnectionCap {
  maxConnections: number;
  /** An explicit --max-connections over what the open-files limit leaves room for; undefined when not clamped. */
  requested?: number;
  openFilesLimit?: number;
}

export function resolveConnectionCap(options: Pick<ServiceOptions, 'maxConnections'>, openFilesLimit = readOpenFilesLimit()): ConnectionCap {
  const room = openFilesLimit === undefined ? undefined : Math.max(64, Math.floor(openFilesLimit / 2) - 64);
  if (options.maxConnections === 'auto') return { maxConnections: room === undefined ? 1_000 : Math.min(10_000, room) };
  if (room === undefined || options.maxConnections <= room) return { maxConnections: options.maxConnections };
  return { maxConnections: room, requested: options.maxConnections, openFilesLimit };
}

function readOpenFilesLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1];
    return line === undefined ? undefined : line === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line);
  } catch {
    return undefined;
  }
}

/**
 * "--max-output": '' for the defaults; a number of MiB for every format; and/or
 * format=MiB pairs ("16,svg=4"). Throws a TypeError naming the source when malformed.
 */
export function resolveOutputLimits(spec: string, source = '--max-output'): Record<OutputFormat, number> {
  const limits: Record<OutputFormat, number> = { ...DEFAULT_LIMITS.maxOutputBytes };
  if (spec.trim() === '') return limits;
  const formats = new Set<string>(OUTPUT_FORMATS);
  for (const part of spec.split(',')) {
    const [name, value] = part.includes('=') ? part.split('=', 2).map((text) => text.trim()) : [undefined, part.trim()];
    const mib = Number(value);
    if (!(mib > 0) || !Number.isFinite(mib)) throw new TypeError(`${source}: "${part}" is not a positive number of MiB`);
    if (name === undefined) {
      for (const format of OUTPUT_FORMATS) limits[format] = Math.round(mib * 1024 * 1024);
    } else if (formats.has(name)) {
      limits[name as OutputFormat] = Math.round(mib * 1024 * 1024);
    } else {
      throw new TypeError(`${source}: "${name}" is not a format; use ${OUTPUT_FORMATS.join(', ')}`);
    }
  }
  return limits;
}
