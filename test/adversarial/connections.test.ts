import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { connectionStatsOf } from '../../src/server/connection-guard.js';
import { isAlive } from '../helpers/processes.js';
import { fetchReply, postJson } from '../helpers/replies.js';
import { serveChild, startTestService } from '../helpers/server.js';
import { freePort } from '../helpers/servers.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Issue 9: connections and clients that never finish. Idle and slow sockets
 * must neither take every descriptor nor hold the service; a client that stops
 * reading must not hold its answer in memory.
 */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));
const MIB = 1024 * 1024;
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
  assert.equal((await postJson(`${service.url}/chart`, { chart: BAR })).status, 200);
});

test('issue 9: the memory of answers nobody read comes back with no traffic after them', async (t) => {
  // A chartd of its own: an idle main process, as after a burst (the test runner's own allocations would collect for it).
  const adminPort = await freePort();
  const { base } = await serveChild(t, ['--workers', '1', '--send-timeout', '1000', '--render-cache', '0', '--max-output', 'svg=64', '--admin-port', String(adminPort)]);
  const admin = `http://127.0.0.1:${adminPort}`;
  const { port } = new URL(base);
  const resources = async () => (await (await fetch(`${admin}/debug/resources`)).json()) as { process: { arrayBuffersBytes: number }; openSockets: { public: number } };
  const buffers = async () => (await resources()).process.arrayBuffersBytes;
  assert.equal((await postJson(`${base}/chart`, { chart: BAR })).status, 200);
  const before = await buffers();
  // Two SVGs of ~8 MB each, to clients that read their first bytes and then nothing.
  const labels = Array.from({ length: 20_000 }, (_, i) => String(i));
  const readers: Socket[] = [];
  t.after(() => readers.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 2; i++) {
    const body = JSON.stringify({ format: 'svg', width: 2000 + i, chart: { type: 'line', data: { labels, datasets: [{ data: labels.map((_, j) => j % 100), pointStyle: 'star' }] } } });
    const [socket] = await openIdle(Number(port), 1);
    socket!.once('data', () => socket!.pause());
    socket!.write(`POST /chart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    readers.push(socket!);
  }
  let peak = 0;
  await waitFor('the unread answers to be held', async () => (peak = Math.max(peak, await buffers())) > before + 8 * MIB, 60_000, 200);
  await waitFor('the unread answers to be dropped', async () => (await resources()).openSockets.public === 0, 30_000, 200);
  // No request follows but these reads: nothing else would make V8 collect the dropped Buffers.
  let after = peak;
  await waitFor('the dropped answers to be collected', async () => (after = await buffers()) < before + 4 * MIB, 10_000, 500);
  t.diagnostic(`Buffers: ${Math.round(before / MIB)} MiB before, ${Math.round(peak / MIB)} MiB held for the unread answers, ${Math.round(after / MIB)} MiB after they were dropped`);
  // Counted as dropped by the send timeout, with their bytes (a destroyed socket still says 'finish').
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{reason="send_timeout"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(value('chartd_answers_dropped_total'), 2, metrics.split('\n').filter((line) => line.includes('dropped')).join('\n'));
  assert.ok(value('chartd_answer_bytes_dropped_total') > 8 * MIB, 'their bytes are counted');
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

test('issue 9: an explicit --max-connections over what the open-files limit allows is lowered to it, with a warning', { timeout: 120_000 }, async (t) => {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(
    'sh',
    ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${BIN}" serve --port ${port} --admin-port 0 --workers 1 --log-level warn --max-connections 5000 --max-connections-per-client 0`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('chartd to listen', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) === 200, 30_000, 100);
  assert.match(output, /--max-connections 5000 is more than the open-files limit \(1024\)[^"]*using 448/);
  // 448 (1024 / 2 - 64) are taken; the next is refused with an answer, not left to run the descriptors out.
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 448; i++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + (i % 200)}.${1 + Math.floor(i / 200)}` });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    sockets.push(socket);
  }
  await sleep(300);
  const [extra] = await openIdle(port, 1, '127.0.250.1');
  sockets.push(extra!);
  const answer = await firstAnswer(extra!);
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /"code":"TOO_MANY_CONNECTIONS"/);
  sockets.slice(0, 10).forEach((socket) => socket.destroy());
  await sleep(300);
  assert.equal(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, (error: Error) => error.message), 200);
});

test('issue 9: with --trust-proxy, X-Forwarded-For values that are not addresses cannot mint clients', async (t) => {
  const service = await startTestService({ workers: 1, trustProxy: '127.0.0.1', rateLimit: 2, rateLimitWindowMs: 60_000 });
  t.after(() => service.close());
  const get = (forwarded: string) => fetchReply(`${service.url}/chart?c=${encodeURIComponent(JSON.stringify(BAR))}&w=20&h=20`, { headers: { 'x-forwarded-for': forwarded } });
  // Real addresses forwarded by the proxy are clients of their own.
  for (const address of ['10.0.0.1', '10.0.0.1', '10.0.0.2', '198.51.100.7, 10.0.0.3']) assert.equal((await get(address)).status, 200, address);
  // Made-up values all fall back to the proxy's own address: one client, limited after 2.
  const statuses = [];
  for (const forwarded of ['garbage-1', 'garbage-2', 'x, garbage-3', '[::1]', '10.0.0.9:80']) statuses.push((await get(forwarded)).status);
  assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
  // The last valid hops still count when junk is put before them.
  assert.equal((await get('junk, 10.0.0.4')).status, 200);
});
