import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { countDrawnPixels, decodeImage } from '../helpers/images.js';
import { isAlive, renderWorkers } from '../helpers/processes.js';
import { FAULT_HOOKS_NODE_OPTIONS } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/**
 * SIGTERM drain, tested on the real process (`chartd serve` in a child): accepted
 * requests finish, new connections are refused, the process exits 0.
 */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));

interface Served {
  child: ChildProcess;
  port: number;
  lines: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function serve(t: TestContext, args: string[], { detached = false } = {}): Promise<Served> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    // --drain-delay 0: these tests are about the drain itself (the delay before it: test/deploy/replicas.test.ts).
    [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--admin-port', '0', '--log-level', 'info', '--drain-delay', '0', ...args],
    // detached: a process group of its own, as a shell gives a job (for signals sent to the whole group).
    { env: { ...process.env, NODE_OPTIONS: FAULT_HOOKS_NODE_OPTIONS }, stdio: ['ignore', 'pipe', 'pipe'], detached },
  );
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (detached) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = lines.find((candidate) => pattern.test(candidate));
        if (line === undefined) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new assert.AssertionError({ message: `no log line ${pattern} in ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}` }));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  await waitForLog(/chartd listening/);
  // It listens while its workers start (/readyz says "starting"); as an orchestrator would, wait for ready.
  await waitForReadyz(port, 200, undefined);
  return { child, port, lines, exit, waitForLog };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request on its own connection (no keep-alive pool between requests and shutdown). */
function send(port: number, path: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      {
        hostname: '127.0.0.1',
        port,
        path,
        method: text === undefined ? 'GET' : 'POST',
        agent: false,
        headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        timeout: 20_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('hang guard: no answer in 20 s')));
    req.on('error', reject);
    req.end(text);
  });
}

function busyChart(busyMs: number) {
  return {
    chart: { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [2, 1] }] }, options: { plugins: { chartdTest: { busyMs } } } },
    width: 200,
    height: 100,
    devicePixelRatio: 1,
  };
}

async function waitForReadyz(port: number, status: number, reason: string | undefined): Promise<void> {
  await waitFor(`/readyz to answer ${status}${reason ? ` (${reason})` : ''}`, async () => {
    const reply = await send(port, '/readyz');
    const body = JSON.parse(reply.body.toString()) as { reason?: string };
    return reply.status === status && body.reason === reason;
  }, 5_000);
}

async function exitWithin(served: Served, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `the child did not exit within ${ms} ms` })), ms);
  });
  try {
    return await Promise.race([served.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('SIGTERM: in-flight requests finish with 200, new connections are refused, exit code 0', async (t) => {
  // One worker and a queue of three: four accepted renders make /readyz say "saturated",
  // which tells the test every request is inside the pool before the signal. (With two
  // workers, /readyz is ready as soon as one has started, so the burst could meet a
  // starting worker and a full queue.)
  const served = await serve(t, ['--workers', '1', '--queue', '3', '--drain-timeout', '15000']);
  const inFlight = Array.from({ length: 4 }, () => send(served.port, '/chart', busyChart(400)));
  await waitForReadyz(served.port, 503, 'saturated');

  const signalledAt = Date.now();
  served.child.kill('SIGTERM');
  await served.waitForLog(/signal received/);
  await new Promise((resolve) => setTimeout(resolve, 50));

  const late = await send(served.port, '/chart', busyChart(0)).then(
    (reply) => `status ${reply.status} ${reply.status === 503 ? (JSON.parse(reply.body.toString()) as { code: string }).code : ''}`,
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  assert.ok(
    ['ECONNREFUSED', 'ECONNRESET', 'status 503 SHUTTING_DOWN'].includes(late.trim()),
    `a request after SIGTERM is refused, got ${late}`,
  );

  const replies = await Promise.all(inFlight);
  for (const reply of replies) {
    assert.equal(reply.status, 200, reply.body.subarray(0, 200).toString());
    assert.equal(reply.headers['content-type'], 'image/png');
    const image = await decodeImage(reply.body);
    assert.deepEqual([image.format, image.width, image.height], ['png', 200, 100]);
    assert.ok(countDrawnPixels(image) > 50);
  }
  const { code, signal } = await exitWithin(served, 10_000);
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.ok(Date.now() - signalledAt >= 1000, 'the process waited for its renders');
  assert.ok(served.lines.some((line) => /shutting down/.test(line)), 'the drain is logged');
});

test('SIGTERM: renders still running at --drain-timeout fail with 503 SHUTTING_DOWN and the process exits 0', async (t) => {
  const served = await serve(t, ['--workers', '1', '--queue', '0', '--drain-timeout', '500', '--timeout', '20000']);
  const stuck = send(served.port, '/chart', busyChart(6000));
  await waitForReadyz(served.port, 503, 'saturated');
  const signalledAt = Date.now();
  served.child.kill('SIGTERM');
  const reply = await stuck;
  assert.equal(reply.status, 503);
  assert.equal((JSON.parse(reply.body.toString()) as { code: string }).code, 'SHUTTING_DOWN');
  const { code } = await exitWithin(served, 5_000);
  assert.equal(code, 0);
  assert.ok(Date.now() - signalledAt < 4_000, 'bounded by the drain timeout, not by the render');
});

test(
  'SIGTERM: a client connection that never sends a request does not hold the process past --drain-timeout',
  async (t) => {
    const served = await serve(t, ['--workers', '1', '--drain-timeout', '500']);
    const socket: Socket = connect(served.port, '127.0.0.1');
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    served.child.kill('SIGTERM');
    const { code } = await exitWithin(served, 3_000);
    assert.equal(code, 0);
  },
);

test('Ctrl-C (SIGINT to the whole process group): the workers keep rendering while the service drains, then exit', async (t) => {
  const served = await serve(t, ['--workers', '2', '--drain-timeout', '15000'], { detached: true });
  const workers = renderWorkers(served.child.pid!).map((worker) => worker.pid);
  assert.equal(workers.length, 2);
  const inFlight = [send(served.port, '/chart', busyChart(1500)), send(served.port, '/chart', busyChart(1500))];
  await waitForReadyz(served.port, 503, 'saturated').catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  // What a terminal does on Ctrl-C, and systemd's KillMode=control-group on stop: every process gets the signal.
  process.kill(-served.child.pid!, 'SIGINT');
  for (const reply of await Promise.all(inFlight)) assert.equal(reply.status, 200, reply.body.subarray(0, 200).toString());
  const { code } = await exitWithin(served, 10_000);
  assert.equal(code, 0);
  await waitFor('the workers to exit with the service', () => workers.every((pid) => !isAlive(pid)), 5_000);
});

test('SIGKILL of the main process leaves no orphan worker behind', async (t) => {
  const served = await serve(t, ['--workers', '2']);
  const workers = renderWorkers(served.child.pid!).map((worker) => worker.pid);
  assert.equal(workers.length, 2);
  served.child.kill('SIGKILL');
  await exitWithin(served, 5_000);
  // Each worker sees its IPC channel close and exits.
  await waitFor('the orphaned workers to exit', () => workers.every((pid) => !isAlive(pid)), 10_000);
});
