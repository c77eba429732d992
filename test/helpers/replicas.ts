import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisServer, type RedisServer } from './servers.js';
import { waitFor } from './wait.js';

/**
 * Several chartd replicas behind a real load balancer, as separate processes:
 * a private redis-server (the shared chart store), `count` × `chartd serve` on
 * loopback ports (each with its own --data-dir, one worker) and haproxy in front
 * with the configuration haproxyConfig() writes. Used by
 * test/deploy/replicas.test.ts and by bench/replicas.ts (the same topology by hand).
 *
 * Every process started here is ended by stop(), and, should the test process
 * exit first, by an exit hook (SIGKILL: a chartd's workers end when it does).
 */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));
const INSTALL_HINT = 'run scripts/install-test-tools.sh (it apt-get installs haproxy; CI runs it before the tests)';
const OUTPUT_KEPT = 64 * 1024;

const leftovers = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of leftovers) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Replica {
  /** chartd1, chartd2...: also its server name in haproxy (and the X-Chartd-Replica response header). */
  readonly name: string;
  readonly port: number;
  /** http://127.0.0.1:<port>, the replica itself, bypassing the balancer. */
  readonly url: string;
  readonly dataDir: string;
  /** The chartd main process's id while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM (chartd's drain: /readyz fails, --drain-delay, in-flight requests finish); resolves with how it exited. */
  stop(): Promise<ExitStatus>;
  /** SIGKILL; resolves once it has exited. */
  kill(): Promise<ExitStatus>;
  /** Starts it again, same port, data directory and flags; resolves once /readyz answers 200. */
  start(): Promise<void>;
  /** The last 64 KiB of its stdout and stderr (JSON log lines). */
  output(): string;
}

/** One server (or the backend, svname BACKEND) as haproxy's `show stat` reports it. */
export interface BalancerServerStats {
  /** UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (coming up), NOLB, MAINT... */
  status: string;
  /** Requests (HTTP mode: sessions) sent to it in all. */
  sessions: number;
  /** Failed connections to it (econ), responses that failed (eresp), retries (wretr), redispatches (wredis). */
  connectionErrors: number;
  responseErrors: number;
  retries: number;
  redispatches: number;
}

export interface ReplicaSet {
  /** http://127.0.0.1:<port> of haproxy's frontend. */
  readonly balancerUrl: string;
  readonly replicas: readonly Replica[];
  /** Each replica's own URL (bypassing the balancer). */
  readonly urls: readonly string[];
  /** What every replica was given as --store. */
  readonly storeUrl: string;
  /** The private Redis, when the set started one (no `store` option). */
  readonly redis: RedisServer | undefined;
  /** The haproxy configuration in use (also written to configPath). */
  readonly haproxyConfig: string;
  readonly configPath: string;
  /** haproxy's view, by server name (the replicas' names, and BACKEND for the whole backend). */
  balancerStats(): Promise<Map<string, BalancerServerStats>>;
  /** Polls haproxy until it reports `replica` with this status (UP: in rotation; DOWN: out of it). */
  waitForBalancer(replica: Replica | string, status: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  /** The last 64 KiB of haproxy's output (its log: one line per request, with the termination state). */
  balancerOutput(): string;
  /** Ends every process (SIGKILL: a test's cleanup) and removes the temporary directories. Idempotent. */
  stop(): Promise<void>;
}

export interface ReplicaSetOptions {
  /** Replicas (default 3). */
  count?: number;
  /** More `chartd serve` flags, for every replica (after the harness's own: a repeated flag wins). */
  extraArgs?: readonly string[];
  /**
   * --drain-delay of the replicas, ms (default 2000): how long a replica on SIGTERM
   * serves on with /readyz failing. Must exceed haproxy's time to notice (CHECK_INTER_MS × CHECK_FALL).
   */
  drainDelayMs?: number;
  /** --store of every replica; default: a private redis-server started (and stopped) with the set. */
  store?: string;
  /** --log-level of the replicas (default warn). */
  logLevel?: string;
  /** haproxy's port (default: a free one). */
  balancerPort?: number;
  /** Listen address of haproxy's frontend (default 127.0.0.1). */
  balancerHost?: string;
  /** Environment of the replicas (default this process's). */
  env?: NodeJS.ProcessEnv;
  /** How long each replica may take to become ready (default 60 s: three start at once on a busy 2-core CI machine). */
  readyTimeoutMs?: number;
}

/** haproxy's health check: every CHECK_INTER_MS; CHECK_FALL failures take a server out, CHECK_RISE successes bring it back. */
export const CHECK_INTER_MS = 200;
export const CHECK_FALL = 2;
export const CHECK_RISE = 2;

export interface HaproxyConfigInput {
  bindHost: string;
  bindPort: number;
  servers: ReadonlyArray<{ name: string; port: number; host?: string }>;
  /** The admin socket's path (`show stat`), in a directory of the caller's. */
  statsSocket: string;
}

/**
 * The balancer's configuration. The choices, and why (also the reference for a
 * real deployment: docs/OPERATIONS.md, "Running several replicas"):
 *
 * - roundrobin: chartd replicas are stateless (stored charts are in the shared
 *   store), any of them can answer anything.
 * - The health check is chartd's readiness, GET /readyz: 503 while starting,
 *   saturated and from SIGTERM on (--drain-delay). Checked every 200 ms; 2 failures
 *   take a server out (measured 0.2-0.6 s: well inside the replicas' --drain-delay, so a
 *   draining replica leaves rotation while it is still serving), 2 successes bring
 *   it back. A killed replica fails the check by refused connection just the same.
 * - Retries, only where a second attempt cannot do harm:
 *   - conn-failure, for every request: the connection was refused or timed out, so
 *     nothing was sent (a replica that has just died or closed its listener).
 *   - empty-response, for renders only (/chart, /qr, /gchart, /chart/render/<id>):
 *     the request was sent and the connection closed with nothing received (the
 *     replica was killed mid-render). A render is idempotent: it reads, never
 *     writes; running it twice costs CPU only.
 *   - not for POST /chart/create (disable-l7-retry keeps only conn-failure for it):
 *     the replica may have stored the chart before dying, and a second attempt
 *     stores a second one (another id, counted against --store-max-charts) while
 *     the client is told only one URL. Its failure goes to the client, which knows
 *     whether it wants to create again: a 502, or, when it went on a kept-alive
 *     server connection (http-reuse safe), its own connection closed, as a server's
 *     keep-alive close would (the test's clients see ECONNRESET).
 *   - never on a status, 503 included: chartd's 503s (QUEUE_FULL, SHUTTING_DOWN,
 *     STORE_UNAVAILABLE, over budget) are answers with Retry-After, and retrying
 *     them on every replica multiplies load exactly when there is too much.
 *   - never on response-timeout: a slow render retried elsewhere doubles the work;
 *     chartd answers 504 RENDER_TIMEOUT by itself (--timeout 10 s < timeout server).
 *   - retries 1, redispatched (option redispatch 1: to another server, not the one
 *     that failed): enough for one replica dying at a time; a request that itself
 *     brought a replica down can take at most two.
 *   Retries beyond conn-failure need haproxy to keep a copy of the request: a body
 *   larger than tune.bufsize (16 KiB) is not retried at all.
 * - Timeouts: connect 1 s (loopback or a LAN), server 15 s (above chartd's --timeout,
 *   so chartd's own 504 arrives first), client 30 s (chartd's --request-timeout),
 *   http-keep-alive 10 s on the client side. chartd's --keep-alive-timeout (the
 *   harness gives 30 s) must stay above how long haproxy keeps an idle server
 *   connection (pool-purge-delay 5 s), or haproxy can reuse one chartd is closing.
 * - X-Forwarded-For for chartd's --trust-proxy (per-client rate limits and budgets),
 *   and X-Chartd-Replica on responses: which replica answered.
 */
export function haproxyConfig({ bindHost, bindPort, servers, statsSocket }: HaproxyConfigInput): string {
  return `# Generated by test/helpers/replicas.ts (haproxyConfig): chartd replicas behind haproxy.
global
    maxconn 1024
    nbthread 1
    stats socket ${statsSocket} mode 600 level admin
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 1s
    timeout client 30s
    timeout server 15s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 1s

frontend chartd
    bind ${bindHost}:${bindPort}
    option forwardfor
    default_backend chartd

backend chartd
    balance roundrobin
    # Readiness: /readyz answers 503 while starting, saturated and draining (SIGTERM, --drain-delay).
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host chartd
    http-check expect status 200
    default-server check inter ${CHECK_INTER_MS}ms fall ${CHECK_FALL} rise ${CHECK_RISE} pool-purge-delay 5s
    # One retry, on another server: after a refused connection (nothing was sent) always;
    # after a connection closed with no answer, for renders only (idempotent).
    retries 1
    option redispatch 1
    retry-on conn-failure empty-response
    acl render path /chart /qr /gchart
    acl render path_beg /chart/render/
    # POST /chart/create (and anything not known to be a render): not replayed once sent.
    http-request disable-l7-retry if !render
    # Which replica answered (%s: the server's name), for the tests; leave it out in production.
    http-response set-header X-Chartd-Replica %s
${servers.map((server) => `    server ${server.name} ${server.host ?? '127.0.0.1'}:${server.port}`).join('\n')}
`;
}

/** haproxy's binary: on PATH, or in /usr/sbin (where Debian puts it, often off a user's PATH). */
export function findHaproxy(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = join(dir, 'haproxy');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new Error(`haproxy is not installed (not on PATH nor in /usr/sbin): ${INSTALL_HINT}`);
}

/** A child process with its output kept (the last 64 KiB) and its exit as a promise. */
interface Supervised {
  child: ChildProcess;
  exited: Promise<ExitStatus>;
  output(): string;
}

function supervise(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Supervised {
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  leftovers.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > OUTPUT_KEPT * 2) output = output.slice(-OUTPUT_KEPT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      leftovers.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      keep(Buffer.from(`spawn failed: ${error.message}\n`));
      leftovers.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  return { child, exited, output: () => output.slice(-OUTPUT_KEPT) };
}

function isRunning(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

/** GET on its own connection: the status, or 0 when nothing answered. */
function getStatus(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

/** Sends one command to haproxy's admin socket and reads the whole answer (it closes after it). */
function haproxyCommand(socketPath: string, command: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let text = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`haproxy admin socket: no answer to "${command}" in ${timeoutMs} ms`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('error', reject);
    socket.once('end', () => resolve(text));
    socket.once('connect', () => socket.write(`${command}\n`));
  });
}

function parseStats(csv: string): Map<string, BalancerServerStats> {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.replace(/^# /, '').split(',') ?? [];
  const column = (name: string) => header.indexOf(name);
  const [px, sv, status, stot, econ, eresp, wretr, wredis] = ['pxname', 'svname', 'status', 'stot', 'econ', 'eresp', 'wretr', 'wredis'].map(column);
  const stats = new Map<string, BalancerServerStats>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells[px!] !== 'chartd' || cells[sv!] === 'FRONTEND') continue;
    const number = (index: number | undefined) => Number(cells[index!] || 0);
    stats.set(cells[sv!]!, {
      status: cells[status!] ?? '',
      sessions: number(stot),
      connectionErrors: number(econ),
      responseErrors: number(eresp),
      retries: number(wretr),
      redispatches: number(wredis),
    });
  }
  return stats;
}

/** Starts Redis (unless `store` is given), the replicas and haproxy; resolves once haproxy has every replica UP. */
export async function startReplicas(options: ReplicaSetOptions = {}): Promise<ReplicaSet> {
  const count = options.count ?? 3;
  const drainDelayMs = options.drainDelayMs ?? 2_000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const haproxyBinary = findHaproxy();
  const dir = mkdtempSync(join(tmpdir(), 'chartd-replicas-'));
  const replicas: Array<Replica & { stopNow(): Promise<void> }> = [];
  let redis: RedisServer | undefined;
  let balancer: Supervised | undefined;
  let stopped = false;

  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    if (isRunning(balancer?.child)) balancer.child.kill('SIGKILL');
    await Promise.all([balancer?.exited, ...replicas.map((replica) => replica.stopNow())]);
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (options.store === undefined) redis = await startRedisServer();
    const storeUrl = options.store ?? redis!.url;
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    for (const [index, port] of ports.entries()) {
      const name = `chartd${index + 1}`;
      const dataDir = join(dir, name);
      const args = [
        BIN, 'serve',
        '--host', '127.0.0.1', '--port', String(port), '--admin-port', '0',
        '--workers', '1',
        '--store', storeUrl,
        '--data-dir', dataDir,
        '--drain-delay', String(drainDelayMs),
        // Above haproxy's idle server connections' life (pool-purge-delay): chartd never closes one haproxy is about to reuse.
        '--keep-alive-timeout', '30000',
        '--trust-proxy', '127.0.0.1',
        '--log-level', options.logLevel ?? 'warn',
        ...(options.extraArgs ?? []),
      ];
      replicas.push(createReplica(name, port, dataDir, args, options.env ?? process.env, readyTimeoutMs));
    }
    await Promise.all(replicas.map((replica) => replica.start()));

    const balancerHost = options.balancerHost ?? '127.0.0.1';
    const balancerPort = options.balancerPort ?? (await freePort());
    const statsSocket = join(dir, 'haproxy.sock');
    const config = haproxyConfig({ bindHost: balancerHost, bindPort: balancerPort, servers: replicas.map((replica) => ({ name: replica.name, port: replica.port })), statsSocket });
    const configPath = join(dir, 'haproxy.cfg');
    writeFileSync(configPath, config);
    // -db: in the foreground, not daemonised; its log goes to stderr (kept).
    const proxy = supervise(haproxyBinary, ['-db', '-f', configPath], process.env);
    balancer = proxy;

    const balancerStats = async () => parseStats(await haproxyCommand(statsSocket, 'show stat'));
    const waitForBalancer = async (replica: Replica | string, status: 'UP' | 'DOWN', timeoutMs = 10_000) => {
      const name = typeof replica === 'string' ? replica : replica.name;
      let last = '';
      try {
        await waitFor(
          `haproxy to report ${name} ${status}`,
          async () => {
            if (!isRunning(proxy.child)) throw new Error(`haproxy exited:\n${proxy.output()}`);
            let stats: Map<string, BalancerServerStats>;
            try {
              stats = await balancerStats();
            } catch (error) {
              // Not listening yet (just started), or busy: ask again.
              last = `admin socket: ${(error as Error).message}`;
              return false;
            }
            last = stats.get(name)?.status ?? '(not listed)';
            return last === status;
          },
          timeoutMs,
          25,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message} (last: ${last})`);
      }
    };
    for (const replica of replicas) await waitForBalancer(replica, 'UP', 15_000);

    const balancerUrl = `http://${balancerHost === '0.0.0.0' ? '127.0.0.1' : balancerHost}:${balancerPort}`;
    return {
      balancerUrl,
      replicas,
      urls: replicas.map((replica) => replica.url),
      storeUrl,
      redis,
      haproxyConfig: config,
      configPath,
      balancerStats,
      waitForBalancer,
      balancerOutput: () => proxy.output(),
      stop: stopAll,
    };
  } catch (error) {
    const outputs = [
      ...replicas.map((replica) => `--- ${replica.name}:\n${replica.output().slice(-4_000)}`),
      balancer ? `--- haproxy:\n${balancer.output().slice(-4_000)}` : '',
    ].join('\n');
    await stopAll();
    throw new Error(`${(error as Error).message}\n${outputs}`, { cause: error });
  }
}

function createReplica(
  name: string,
  port: number,
  dataDir: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  readyTimeoutMs: number,
): Replica & { stopNow(): Promise<void> } {
  let current: Supervised | undefined;
  let previousOutput = '';
  const url = `http://127.0.0.1:${port}`;
  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<ExitStatus> => {
    const proc = current;
    if (!proc) return { code: null, signal: null };
    if (isRunning(proc.child)) proc.child.kill(sig);
    // A hang guard: a replica that does not exit in time is killed (and says so: signal SIGKILL).
    const guard = setTimeout(() => isRunning(proc.child) && proc.child.kill('SIGKILL'), graceMs);
    const status = await proc.exited;
    clearTimeout(guard);
    return status;
  };
  return {
    name,
    port,
    url,
    dataDir,
    get pid() {
      return isRunning(current?.child) ? current.child.pid : undefined;
    },
    get running() {
      return isRunning(current?.child);
    },
    stop: () => signal('SIGTERM', 60_000),
    kill: () => signal('SIGKILL', 5_000),
    async stopNow() {
      await signal('SIGKILL', 5_000);
    },
    async start() {
      if (isRunning(current?.child)) throw new Error(`${name} is running already`);
      if (current) previousOutput = current.output();
      const proc = supervise(process.execPath, args, env);
      current = proc;
      await waitFor(
        `${name} (${url}) to answer /readyz 200`,
        async () => {
          if (!isRunning(proc.child)) throw new Error(`${name} exited before it was ready:\n${proc.output()}`);
          return (await getStatus(`${url}/readyz`)) === 200;
        },
        readyTimeoutMs,
        50,
      );
    },
    output: () => (previousOutput ? `${previousOutput}\n--- (restarted)\n` : '') + (current?.output() ?? ''),
  };
}

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  /** What the result is counted as (default: the path). */
  kind?: string;
}

export interface LoadResult {
  kind: string;
  /** 0 when no answer came (error says why). */
  status: number;
  error?: string;
  /** Date.now() when it was sent, and when its answer (or error) was complete. */
  startedAt: number;
  endedAt: number;
  /** X-Chartd-Replica: the replica that answered through haproxy. */
  replica?: string;
  /** Checked by `check`: the reason a 200 was not right (a PNG that is not one, say). */
  invalid?: string;
}

export interface Load {
  /** Results so far (complete requests). */
  readonly results: readonly LoadResult[];
  /** Stops sending; resolves with every result once the requests in flight have ended. */
  stop(): Promise<LoadResult[]>;
}

export interface LoadOptions {
  /** Concurrent clients, each one request at a time on a keep-alive connection. */
  concurrency: number;
  /** The n-th request (n counts from 0 across clients). */
  request: (n: number) => LoadRequest;
  /** Checks a 200's body; returns why it is wrong, or undefined. */
  check?: (request: LoadRequest, body: Buffer, headers: Record<string, string | string[] | undefined>) => string | undefined;
  /** Hang guard of one request, ms (default 20 s). */
  timeoutMs?: number;
}

/** `concurrency` clients looping requests on `baseUrl` (keep-alive connections, as a real client's) until stop(). */
export function startLoad(baseUrl: string, options: LoadOptions): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const results: LoadResult[] = [];
  let running = true;
  let n = 0;
  const one = (spec: LoadRequest) =>
    new Promise<LoadResult>((resolve) => {
      const startedAt = Date.now();
      const text = spec.body === undefined ? undefined : JSON.stringify(spec.body);
      const kind = spec.kind ?? spec.path;
      const done = (result: Omit<LoadResult, 'kind' | 'startedAt' | 'endedAt'>) => resolve({ kind, startedAt, endedAt: Date.now(), ...result });
      const req = httpRequest(
        `${baseUrl}${spec.path}`,
        {
          method: spec.method,
          agent,
          timeout: options.timeoutMs ?? 20_000,
          headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.once('error', (error) => done({ status: 0, error: `response: ${error.message}` }));
          res.once('end', () => {
            const status = res.statusCode ?? 0;
            const bytes = Buffer.concat(chunks);
            const replica = typeof res.headers['x-chartd-replica'] === 'string' ? res.headers['x-chartd-replica'] : undefined;
            const invalid = status === 200 ? options.check?.(spec, bytes, res.headers) : undefined;
            done({
              status,
              ...(replica ? { replica } : {}),
              ...(invalid ? { invalid } : {}),
              ...(status === 200 ? {} : { error: bytes.subarray(0, 300).toString() }),
            });
          });
        },
      );
      req.once('timeout', () => req.destroy(new Error('hang guard: no answer in time')));
      req.once('error', (error: NodeJS.ErrnoException) => done({ status: 0, error: error.code ?? error.message }));
      req.end(text);
    });
  const client = async () => {
    while (running) results.push(await one(options.request(n++)));
  };
  const clients = Array.from({ length: options.concurrency }, () => client());
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(clients);
      agent.destroy();
      return results;
    },
  };
}
