/**
 * Several chartd replicas behind haproxy, by hand: the topology of
 * test/deploy/replicas.test.ts (a private redis-server as the shared chart store,
 * N × `chartd serve --workers 1`, haproxy with the configuration of
 * test/helpers/replicas.ts in front), on loopback.
 *
 *   npm run replicas                         # up until Ctrl-C; prints the URLs
 *   npm run replicas -- --rolling-restart    # SIGTERM and restart each replica under load, count the losses
 *   npm run replicas -- --count 2 --port 8080 --store redis://127.0.0.1:6379 -- --rate-limit 100
 *
 * Needs haproxy and redis-server (scripts/install-test-tools.sh); --store skips the private Redis.
 */
import { parseArgs } from 'node:util';
import { startLoad, startReplicas, type LoadRequest, type LoadResult, type ReplicaSet } from '../test/helpers/replicas.js';

const HELP = `Usage: node dist/bench/replicas.js [options] [-- chartd serve flags]

  --count <n>          replicas (default 3)
  --port <port>        haproxy's port (default: a free one)
  --host <address>     haproxy's listen address (default 127.0.0.1)
  --store <url>        --store of the replicas (default: a private redis-server)
  --drain-delay <ms>   --drain-delay of the replicas (default 2000)
  --log-level <level>  --log-level of the replicas (default warn)
  --print-config       print haproxy's configuration
  --rolling-restart    restart every replica in turn (SIGTERM, wait, start) under load, report, exit
  --clients <n>        concurrent clients of --rolling-restart (default 4)
  --help
`;

function chart(n: number) {
  return { chart: { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ label: `#${n}`, data: [n % 97, 3, 5] }] } }, width: 300, height: 150 };
}

/** Renders (never cached: a label of its own each), and every fourth a stored chart. */
function request(n: number): LoadRequest {
  return n % 4 === 3 ? { method: 'POST', path: '/chart/create', kind: 'create', body: chart(n) } : { method: 'POST', path: '/chart', kind: 'render', body: chart(n) };
}

function describeResults(results: readonly LoadResult[]): { text: string; lost: number } {
  const lost = results.filter((result) => result.status !== 200);
  const byReplica = new Map<string, number>();
  for (const result of results) if (result.replica) byReplica.set(result.replica, (byReplica.get(result.replica) ?? 0) + 1);
  const statuses = new Map<string, number>();
  for (const result of lost) {
    const key = result.status === 0 ? `socket ${result.error}` : String(result.status);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  return {
    lost: lost.length,
    text:
      `${results.length} requests, ${results.length - lost.length} answered 200, ${lost.length} not` +
      (lost.length ? ` (${[...statuses].map(([status, n]) => `${status}: ${n}`).join(', ')})` : '') +
      `; by replica: ${[...byReplica].map(([name, n]) => `${name} ${n}`).join(', ')}`,
  };
}

/** Resolves with the number of requests that did not get a 200. */
async function rollingRestart(set: ReplicaSet, clients: number): Promise<number> {
  const load = startLoad(set.balancerUrl, { concurrency: clients, request });
  let results: LoadResult[];
  try {
    for (const replica of set.replicas) {
      const signalled = Date.now();
      const exit = replica.stop();
      await set.waitForBalancer(replica, 'DOWN', 30_000);
      const down = Date.now() - signalled;
      const status = await exit;
      const exited = Date.now() - signalled;
      await replica.start();
      await set.waitForBalancer(replica, 'UP', 30_000);
      console.log(
        `${replica.name}: out of rotation ${down} ms after SIGTERM, exited (${status.signal ?? `code ${status.code}`}) after ${exited} ms, back in rotation after ${Date.now() - signalled} ms`,
      );
    }
  } finally {
    results = await load.stop();
  }
  const { text, lost } = describeResults(results);
  const stats = (await set.balancerStats()).get('BACKEND');
  console.log(`${text}; haproxy retries ${stats?.retries}, redispatches ${stats?.redispatches}`);
  return lost;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      count: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      store: { type: 'string' },
      'drain-delay': { type: 'string' },
      'log-level': { type: 'string' },
      'print-config': { type: 'boolean' },
      'rolling-restart': { type: 'boolean' },
      clients: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const set = await startReplicas({
    count: values.count === undefined ? 3 : Number(values.count),
    extraArgs: positionals,
    ...(values.port === undefined ? {} : { balancerPort: Number(values.port) }),
    ...(values.host === undefined ? {} : { balancerHost: values.host }),
    ...(values.store === undefined ? {} : { store: values.store }),
    ...(values['drain-delay'] === undefined ? {} : { drainDelayMs: Number(values['drain-delay']) }),
    ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await set.stop();
  };
  try {
    console.log(`haproxy: ${set.balancerUrl} (config ${set.configPath})`);
    for (const replica of set.replicas) console.log(`${replica.name}: ${replica.url} (pid ${replica.pid}, --data-dir ${replica.dataDir})`);
    console.log(`store: ${set.storeUrl}`);
    if (values['print-config']) console.log(`\n${set.haproxyConfig}`);
    if (values['rolling-restart']) {
      const lost = await rollingRestart(set, values.clients === undefined ? 4 : Number(values.clients));
      process.exitCode = lost > 0 ? 1 : 0;
      return;
    }
    console.log('\nCtrl-C to stop everything.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
