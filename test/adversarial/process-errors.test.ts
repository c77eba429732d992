import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 9: the process-wide error policy, on a real `chartd serve`. An unhandled
 * rejection is logged, counted and survived; an uncaught exception is logged,
 * counted and ends the process with status 1 (crash-only, never silent).
 */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));
const MAIN_FAULTS = new URL('../fixtures/main-faults.js', import.meta.url).href;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

async function serveWithFault(t: TestContext, fault: 'reject' | 'throw') {
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--admin-port', String(adminPort), '--workers', '1'], {
    env: { ...process.env, NODE_OPTIONS: `--import=${MAIN_FAULTS}`, CHARTD_TEST_MAIN_FAULT: fault, CHARTD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await waitFor('chartd to listen', () => /chartd listening/.test(output), 30_000, 20);
  child.kill('SIGUSR2'); // the fixture's trigger
  return { port, adminPort, child, exit, output: () => output };
}

test('issue 9: an unhandled rejection is logged and counted, and the service goes on', async (t) => {
  const served = await serveWithFault(t, 'reject');
  await waitFor('the rejection to be logged', () => /unhandled promise rejection/.test(served.output()), 20_000, 50);
  assert.equal((await fetch(`http://127.0.0.1:${served.port}/healthz`)).status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${served.adminPort}/metrics`)).text();
  assert.match(metrics, /^chartd_internal_errors_total\{source="unhandled_rejection"\} 1$/m);
  assert.equal(served.child.exitCode, null, 'still running');
});

test('issue 9: an uncaught exception is logged as fatal and the process exits 1', async (t) => {
  const served = await serveWithFault(t, 'throw');
  const [code] = await served.exit;
  assert.equal(code, 1);
  assert.match(served.output(), /"level":60.*uncaught exception/);
  assert.match(served.output(), /test: an exception nobody catches/);
});
