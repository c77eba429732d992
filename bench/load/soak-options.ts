import { parseArgs } from 'node:util';
import { defaultOutDir } from './paths.js';
import { SIZE_VARIANTS, SOAK_FORMATS, type SizeVariant } from './request-mix.js';

/**
 * Defaults, each with its unit. The thresholds were measured on the 2-core
 * machine of bench/RESULTS.md; docs/LEAKS.md has the reasoning.
 */
export const DEFAULTS = {
  requests: 10_000, // requests, unless --seconds
  concurrency: 4, // requests in flight
  workers: 2, // workers of the chartd this tool starts
  // Workers are recycled every 5,000 renders, so chartd's RSS is a saw-tooth of
  // ~15 MB per ~10,000 requests (2 workers); a window that is not a whole number
  // of teeth tilts the fit. The 30-minute soak of bench/RESULTS.md measured 0.57
  // over its second half (last quarter: -0.13). A forgotten chart.destroy() costs
  // ~1,260 MB per 1,000 requests (bench:compare). 1 MB per 1,000 requests (1 KB
  // a request) is twice the saw-tooth's tilt, and still 100 MB per 100,000 requests.
  maxSlopeMbPer1000: 1, // MB of RSS per 1,000 requests
  // Each tick ends two workers (one SIGKILL, one oom config) and the pool
  // restarts them; 5 s keeps the run mostly about the load, not about restarts.
  chaosIntervalMs: 5_000, // ms between chaos ticks
  chaosOomPerTick: 1, // oom configs per chaos tick
  // A killed worker loses the one render it was running and nothing else
  // (checked exactly: valid failures <= terminations); an oom config kills only
  // its own render. So the ratio is about 1 - 1/(valid requests per tick):
  // measured 98.7 % at 5 s ticks (5 minutes, 60 kills, 16.5 req/s under chaos,
  // 2 cores). 0.95 holds down to ~4 valid requests/s at the default interval.
  chaosMinSuccessRatio: 0.95, // valid requests that render / valid requests
  invalidRatio: 0.05, // share of invalid requests
  timeoutMs: 30_000, // per request: past it the request counts as lost
  chaosWorkerHeapMb: 64, // --worker-heap of a chartd started for --chaos: oom configs die fast
  sampleIntervalMs: 1_000, // ms between memory samples
  seed: 1,
};

export const HELP = `Usage: npm run soak -- [options]   (or: node dist/bench/soak.js [options])

Drives chartd with the render-core scenarios (bench/scenarios.ts) across sizes,
formats (${SOAK_FORMATS.join(', ')}), GET and POST, plus ~5 % invalid requests that must get
their documented error code; samples memory every second; writes samples.csv,
report.png and summary.json. Exits 1 when the RSS slope passes --max-slope, when a
request gets no response, when a response is neither an image nor a documented
error (or not the expected error), or when the share of valid charts that render
is below --min-success-ratio.

  --url URL               target an existing chartd (default: start one on free
                          loopback ports with --workers ${DEFAULTS.workers}, as npm start does)
  --admin-url URL         its admin listener (default with --url: port 9464 of its host)
  --requests N            requests to send (default ${DEFAULTS.requests} unless --seconds)
  --seconds T             run for T seconds (with --requests: whichever comes first)
  --concurrency C         requests in flight (default ${DEFAULTS.concurrency})
  --workers N             workers of the chartd started here (default ${DEFAULTS.workers})
  --server-args "..."     more flags for the chartd started here; for a leak hunt,
                          "--max-renders-per-worker 1000000" stops the recycling
                          that would reset a worker's leak every 5,000 renders
  --out DIR               output directory (default bench/out/soak-<date>)
  --max-slope MB          fail above this RSS growth, MB per 1,000 requests, least
                          squares over the second half (default ${DEFAULTS.maxSlopeMbPer1000})
  --chaos                 kill workers while the load runs (SIGKILL of a worker
                          process, or the admin terminate for a remote chartd, and
                          oom configs; a chartd started here gets the fault-hook
                          fixture preloaded and --worker-heap ${DEFAULTS.chaosWorkerHeapMb})
  --chaos-interval-ms MS  time between chaos ticks (default ${DEFAULTS.chaosIntervalMs})
  --chaos-every N         instead: a chaos tick every N completed requests (a count,
                          so the ratio does not depend on the machine's speed)
  --chaos-oom N           oom configs per chaos tick (default ${DEFAULTS.chaosOomPerTick})
  --min-success-ratio R   valid charts that must render, 0..1 (default 1 without
                          --chaos, ${DEFAULTS.chaosMinSuccessRatio} with it)
  --sizes LIST            size variants, comma-separated: native (the scenario's),
                          small (half), hidpi (devicePixelRatio 2) (default all)
  --invalid-ratio R       share of invalid requests (default ${DEFAULTS.invalidRatio})
  --timeout-ms MS         per request; past it the request is lost (default ${DEFAULTS.timeoutMs})
  --seed N                request sequence seed (default ${DEFAULTS.seed})
  --help                  this text
`;

export interface SoakOptions {
  url: URL | undefined;
  adminUrl: URL | undefined;
  requests: number | undefined;
  seconds: number | undefined;
  concurrency: number;
  workers: number;
  serverArgs: string[];
  out: string;
  maxSlope: number;
  chaos: boolean;
  chaosIntervalMs: number | undefined;
  chaosEvery: number | undefined;
  chaosOom: number;
  minSuccessRatio: number;
  invalidRatio: number;
  sizes: SizeVariant[];
  timeoutMs: number;
  seed: number;
}

export class UsageError extends Error {}

export function parseSoakOptions(argv: string[]): SoakOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string' },
      'admin-url': { type: 'string' },
      requests: { type: 'string' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      'server-args': { type: 'string' },
      out: { type: 'string' },
      'max-slope': { type: 'string' },
      chaos: { type: 'boolean' },
      'chaos-interval-ms': { type: 'string' },
      'chaos-every': { type: 'string' },
      'chaos-oom': { type: 'string' },
      'min-success-ratio': { type: 'string' },
      'invalid-ratio': { type: 'string' },
      sizes: { type: 'string' },
      'timeout-ms': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const number = (name: keyof typeof values, check: (n: number) => boolean, what: string): number | undefined => {
    const text = values[name];
    if (text === undefined) return undefined;
    const value = Number(text);
    if (typeof text !== 'string' || text.trim() === '' || !check(value)) throw new UsageError(`--${name} must be ${what}, got "${String(text)}"`);
    return value;
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const ratio = (n: number) => n >= 0 && n <= 1;
  const url = values.url === undefined ? undefined : new URL(values.url);
  const adminUrl = values['admin-url'] !== undefined ? new URL(values['admin-url']) : url ? new URL(`http://${url.hostname}:9464`) : undefined;
  const seconds = number('seconds', (n) => n > 0, 'a positive number');
  const requests = number('requests', positiveInt, 'a positive integer') ?? (seconds === undefined ? DEFAULTS.requests : undefined);
  const chaos = values.chaos ?? false;
  const chaosEvery = number('chaos-every', positiveInt, 'a positive integer');
  const sizes = (values.sizes ?? SIZE_VARIANTS.join(',')).split(',').map((size) => size.trim()) as SizeVariant[];
  const unknownSize = sizes.find((size) => !SIZE_VARIANTS.includes(size));
  if (unknownSize !== undefined) throw new UsageError(`--sizes takes ${SIZE_VARIANTS.join(', ')}, got "${unknownSize}"`);
  return {
    url,
    adminUrl,
    requests,
    seconds,
    concurrency: number('concurrency', positiveInt, 'a positive integer') ?? DEFAULTS.concurrency,
    workers: number('workers', positiveInt, 'a positive integer') ?? DEFAULTS.workers,
    serverArgs: values['server-args']?.split(/\s+/).filter(Boolean) ?? [],
    out: values.out ?? defaultOutDir(chaos ? 'soak-chaos' : 'soak'),
    maxSlope: number('max-slope', (n) => n >= 0, 'a number >= 0') ?? DEFAULTS.maxSlopeMbPer1000,
    chaos,
    chaosIntervalMs: chaosEvery !== undefined ? undefined : (number('chaos-interval-ms', positiveInt, 'a positive integer') ?? DEFAULTS.chaosIntervalMs),
    chaosEvery,
    chaosOom: number('chaos-oom', (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0') ?? DEFAULTS.chaosOomPerTick,
    minSuccessRatio: number('min-success-ratio', ratio, 'a ratio from 0 to 1') ?? (chaos ? DEFAULTS.chaosMinSuccessRatio : 1),
    invalidRatio: number('invalid-ratio', ratio, 'a ratio from 0 to 1') ?? DEFAULTS.invalidRatio,
    sizes,
    timeoutMs: number('timeout-ms', positiveInt, 'a positive integer') ?? DEFAULTS.timeoutMs,
    seed: number('seed', Number.isInteger, 'an integer') ?? DEFAULTS.seed,
  };
}
