import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connectionStatsOf } from '../../src/server/connection-guard.js';
import { isAlive, treeRssBytes } from '../helpers/processes.js';
import { fetchReply, postJson } from '../helpers/replies.js';
import { startTestService } from '../helpers/server.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Issue 9: connections and clients that never finish. Idle and slow sockets
 * must neither take every descriptor nor hold the service; a client that stops
 * reading must not hold its answer in memory.
 */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));
const BAR = { type: 'bar', data: { labels: ['a', 'b'], datasets: [{ data: [1, 2] }] } };

/** Sockets that connect and send nothing (they do read: a server's answer or close is seen). */
function openIdle(port: number, count: number, localAddress = '127.0.0.1'): Promise<Socket[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const socket = connect({ port, host: '127.0.0.1', localAddress });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      return socket;
    }),
  );
}

function closed(socket: Socket): Promise<void> {
  socket.resume();
  return socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** The first bytes a server sends on a socket, or '' if it closes silently. */
function firstAnswer(socket: Socket, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => resolve(data), timeoutMs);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

test('issue 9: past the per-client cap, a connection gets 503 TOO_MANY_CONNECTIONS and is closed; other clients are served', async (t) => {
  const service = await startTestService({ workers: 1, maxConnectionsPerClient: 10, maxConnections: 40 });
  t.after(() => service.close());
  const { port } = new URL(service.url);
  const idle = await openIdle(Number(port), 10);
  t.after(() => idle.forEach((socket) => socket.destroy()));
  const [extra] = await openIdle(Number(port), 1);
  const answer = await firstAnswer(extra!);
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /"code":"TOO_MANY_CONNECTIONS"/);
  assert.match(answer, /Retry-After: 1/i);
  // Another address (127.0.0.2 is loopback too) is a different client.
  const [other] = await openIdle(Number(port), 1, '127.0.0.2');
  other!.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.match(await firstAnswer(other!), /^HTTP\/1\.1 200 /);
  assert.equal(connectionStatsOf(service.app.server)?.refused.per_client, 1);
  // Freed places are free again.
  for (const socket of [...idle, extra!, other!]) socket.destroy();
  await waitFor('the idle sockets to be counted closed', () => connectionStatsOf(service.app.server)!.open === 0);
  assert.equal((await postJson(`${service.url}/chart`, { chart: BAR })).status, 200);
});

test('issue 9: past the total cap, connections are refused while the service keeps serving', async (t) => {
  const service = await startTestService({ workers: 1, maxConnectionsPerClient: 0, maxConnections: 20 });
  t.after(() => service.close());
  const { port } = new URL(service.url);
  const idle = await openIdle(Number(port), 20);
  t.after(() => idle.forEach((socket) => socket.destroy()));
  const extra = await openIdle(Number(port), 5, '127.0.0.3');
  for (const socket of extra) assert.match(await firstAnswer(socket), /"code":"TOO_MANY_CONNECTIONS"/);
  assert.equal(connectionStatsOf(service.app.server)?.refused.total, 5);
  idle.slice(0, 5).forEach((socket) => socket.destroy());
  await waitFor('places to free', () => connectionStatsOf(service.app.server)!.open <= 15);
  assert.equal((await fetchReply(`${service.url}/healthz`)).status, 200);
  for (const socket of [...idle, ...extra]) socket.destroy();
});

test('issue 9: idle and slow connections are closed early: headers, body and keep-alive timeouts', async (t) => {
  const service = await startTestService({ workers: 1, headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 300 });
  t.after(() => service.close());
  const { port } = new URL(service.url);
  // A connection that never sends a request.
  const [silent] = await openIdle(Number(port), 1);
  // One that sends its headers a byte at a time (slowloris).
  const [slow] = await openIdle(Number(port), 1);
  const header = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
  let i = 0;
  const drip = setInterval(() => slow!.write(header[i++ % header.length]!), 100);
  t.after(() => clearInterval(drip));
  // One that sends headers, then a body that never ends.
  const [body] = await openIdle(Number(port), 1);
  body!.write('POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"chart":');
  const [silentAnswer] = await Promise.all([firstAnswer(silent!, 5000), closed(slow!), closed(body!)]);
  assert.match(silentAnswer, /^HTTP\/1\.1 408 /);
  assert.match(silentAnswer, /"code":"REQUEST_TIMEOUT"/);
  clearInterval(drip);
  // A keep-alive connection left idle after its answer.
  const answered = await new Promise<Socket>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', agent: false, headers: { connection: 'keep-alive' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(req.socket!));
    });
    req.on('error', reject);
    req.end();
  });
  await closed(answered);
  await waitFor('no connection left open', () => connectionStatsOf(service.app.server)!.open === 0);
});

test('issue 9: a client that stops reading a large answer is dropped after --send-timeout, and its memory is released', async (t) => {
  const service = await startTestService({ workers: 1, sendTimeoutMs: 1000, maxOutput: 'svg=256' });
  t.after(() => service.close());
  const { port } = new URL(service.url);
  // Megabytes of SVG: far more than the socket buffers can take.
  const chart = { type: 'line', data: { labels: Array.from({ length: 3000 }, (_, i) => i), datasets: [{ data: Array.from({ length: 3000 }, (_, i) => i % 13) }] } };
  const body = JSON.stringify({ chart, format: 'svg' });
  const readers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const [socket] = await openIdle(Number(port), 1);
    socket!.pause(); // never reads
    socket!.write(`POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    readers.push(socket!);
  }
  t.after(() => readers.forEach((socket) => socket.destroy()));
  await waitFor('the answers to be rendered and dropped', () => connectionStatsOf(service.app.server)!.open === 0, 30_000, 50);
  const after = treeRssBytes(process.pid);
  t.diagnostic(`tree RSS after the dropped answers: ${Math.round(after / 1024 / 1024)} MiB`);
  assert.equal((await postJson(`${service.url}/chart`, { chart: BAR })).status, 200);
});

test('issue 9: at a 256-descriptor limit, 600 idle connections cannot exhaust descriptors: the service keeps answering', { timeout: 120_000 }, async (t) => {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  // The open-files limit of a small container; --max-connections auto keeps half of it free.
  const child = spawn('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${BIN}" serve --port ${port} --admin-port 0 --workers 1 --log-level warn --leak-interval 200`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('chartd to listen', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) === 200, 30_000, 100);
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 600; i++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + (i % 200)}.${1 + Math.floor(i / 200)}` });
    socket.on('error', () => undefined);
    sockets.push(socket);
  }
  await sleep(1500); // the leak detector samples /proc every 200 ms meanwhile
  assert.ok(isAlive(child.pid!), `chartd is alive (stderr: ${stderr.slice(-2000)})`);
  sockets.slice(0, 300).forEach((socket) => socket.destroy());
  await sleep(500);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, (error: Error) => error.message);
  assert.equal(health, 200);
  assert.doesNotMatch(stderr, /EMFILE|uncaught/i);
});
