import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { waitFor } from './wait.js';

/**
 * Private Redis and PostgreSQL servers for tests: started from the binaries Debian's
 * packages install (scripts/install-test-tools.sh), on 127.0.0.1 and free ports, with
 * their data in a temporary directory, and stopped (and removed) by stop(). A server
 * that is not installed is an error that says how to install it, never a skipped test:
 * CI installs both.
 */

const run = promisify(execFile);
const INSTALL_HINT = 'run scripts/install-test-tools.sh (it apt-get installs redis-server and postgresql; CI runs it before the tests)';

/** Servers still running when the test process exits are ended with it. */
const leftovers = new Map<number, NodeJS.Signals>();
process.on('exit', () => {
  for (const [pid, signal] of leftovers) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
});

/** A port free on 127.0.0.1 now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}


/** Sends PING on a fresh connection; true on +PONG. */
function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** The redis-server process's id while it runs. */
  readonly pid: number | undefined;
  /** Sends `signal` (default SIGKILL); for SIGKILL and SIGTERM, resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts redis-server again on the same port (empty: it keeps nothing on disk). */
  start(): Promise<void>;
  /** Ends the server and removes its directory (idempotent). */
  stop(): Promise<void>;
}

/** A private redis-server: `--port <free> --bind 127.0.0.1 --save '' --appendonly no`. */
export async function startRedisServer(): Promise<RedisServer> {
  const binary = onPath('redis-server');
  if (!binary) throw new Error(`redis-server is not installed (not on PATH): ${INSTALL_HINT}`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chartd-redis-'));
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    const server = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = server;
    server.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    if (server.pid) leftovers.set(server.pid, 'SIGKILL');
    server.once('exit', () => server.pid && leftovers.delete(server.pid));
    try {
      // An exited server fails at once (a probe that throws ends the wait), not after the timeout.
      await waitFor(
        `redis-server on port ${port}`,
        async () => {
          if (server.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
          return redisPing(port);
        },
        10_000,
        50,
      );
    } catch (error) {
      server.kill('SIGKILL');
      throw new Error(`${(error as Error).message}\n${output}`);
    }
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  };
  await start();
  let stopped = false;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    kill,
    start,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child?.signalCode === null && child.exitCode === null) child.kill('SIGCONT');
      await kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PostgresServer {
  readonly port: number;
  /** The superuser the cluster was created with (trust authentication on loopback). */
  readonly user: string;
  /** postgres://chartd@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** A new, empty database; resolves to its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server at once (`pg_ctl stop -m immediate`): clients see their connections cut. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data (what was committed is still there). */
  start(): Promise<void>;
  /** SIGSTOP (or SIGCONT) to the postmaster and each of its processes, by pid: a server that accepts and never answers. */
  signalAll(signal: 'SIGSTOP' | 'SIGCONT'): void;
  /** Stops it and removes its directory (idempotent). */
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<version>/bin that has initdb. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`PostgreSQL is not installed (no ${root}/*/bin/initdb): ${INSTALL_HINT}`);
  return join(root, versions[0]!, 'bin');
}

let databases = 0;

/**
 * A private PostgreSQL cluster: initdb into a temporary directory, then pg_ctl start
 * with `-p <free> -k <dir> -c listen_addresses=127.0.0.1`. PostgreSQL refuses to run
 * as root; as root, the directory is given to the `postgres` user the package creates
 * and every command runs as that user (runuser).
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chartd-pg-'));
  const data = join(dir, 'data');
  const user = 'chartd';
  let asUser: string[] = [];
  if (process.getuid?.() === 0) {
    let uid: number;
    let gid: number;
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    } catch {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`running as root, PostgreSQL needs the postgres user its package creates, and there is none: ${INSTALL_HINT}`);
    }
    chownSync(dir, uid, gid);
    asUser = ['runuser', '-u', 'postgres', '--'];
  }
  const pgCommand = async (command: string, args: string[]) => {
    const [file, ...rest] = [...asUser, join(bin, command), ...args];
    try {
      return await run(file!, rest, { cwd: dir, timeout: 60_000 });
    } catch (error) {
      const failed = error as Error & { stderr?: string; stdout?: string };
      let log = '';
      try {
        log = readFileSync(join(dir, 'log'), 'utf8').slice(-2_000);
      } catch {
        // no log yet
      }
      throw new Error(`${command} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}${log}`);
    }
  };
  const postmasterPid = () => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const start = async () => {
    await pgCommand('pg_ctl', [
      '-D', data, '-l', join(dir, 'log'), '-w', '-t', '60',
      '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`,
      'start',
    ]);
    const pid = postmasterPid();
    // SIGQUIT: PostgreSQL's immediate shutdown, should the test process end first.
    if (pid) leftovers.set(pid, 'SIGQUIT');
  };
  const kill = async () => {
    const pid = postmasterPid();
    if (pid === undefined) return;
    await pgCommand('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    leftovers.delete(pid);
  };
  try {
    await pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', user, '-E', 'UTF8', '--locale=C', '--no-sync']);
    await start();
  } catch (error) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const signalAll = (signal: 'SIGSTOP' | 'SIGCONT') => {
    const pid = postmasterPid();
    if (pid === undefined) return;
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          // The field after the parenthesised command name: state, then the parent's pid.
          const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
        } catch {
          return false;
        }
      })
      .map(Number);
    for (const target of [pid, ...children]) {
      try {
        process.kill(target, signal);
      } catch {
        // exited meanwhile
      }
    }
  };
  const url = (database = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${database}`;
  let stopped = false;
  return {
    port,
    user,
    url,
    async createDatabase(name = `chartd_test_${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 5_000 });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    kill,
    start,
    signalAll,
    async stop() {
      if (stopped) return;
      stopped = true;
      signalAll('SIGCONT');
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
