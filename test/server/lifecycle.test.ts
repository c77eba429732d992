import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { LeakMonitor, type MonitoredPool } from '../../src/diagnostics/leak-monitor.js';
import { LEAK_DETECTOR_DEFAULTS } from '../../src/diagnostics/leak-detector.js';
import { isAlive, renderWorkers } from '../helpers/processes.js';
import { startTestService } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

/** Every long-lived object chartd hands out releases what it holds through `using`, as the pool does. */

test('await using a service closes its listeners, its workers and its data directory', async () => {
  let url: string;
  let workerPids: number[];
  let dataDir: string;
  {
    await using service = await startTestService({ workers: 1 });
    url = service.url;
    dataDir = dirname(service.store.description.replace(/^sqlite:/, ''));
    assert.ok(existsSync(dataDir), `the service's own data directory ${dataDir} exists`);
    const reply = await fetch(`${url}/healthz`);
    assert.equal(reply.status, 200);
    workerPids = renderWorkers(process.pid).map((worker) => worker.pid);
    assert.ok(workerPids.length >= 1, 'a render worker process is running');
  }
  await assert.rejects(fetch(`${url}/healthz`), 'the listener is closed once the block ends');
  await waitFor('the render workers to exit', () => !workerPids.some(isAlive));
  assert.ok(!existsSync(dataDir), 'the test data directory is removed');
});

test('using a leak monitor stops its sampling when the block ends', async () => {
  let samples = 0;
  const pool: MonitoredPool = {
    stats: () => {
      samples += 1;
      return { workers: [] } as unknown as ReturnType<MonitoredPool['stats']>;
    },
    recycleWorker: () => false,
  };
  {
    using monitor = new LeakMonitor({
      pool,
      log: pino({ level: 'silent' }),
      adminUrl: () => 'http://127.0.0.1:0',
      options: { ...LEAK_DETECTOR_DEFAULTS, intervalMs: 5, recycleWorkers: false },
    });
    monitor.start();
    await waitFor('the monitor to sample', () => samples >= 3);
  }
  const afterClose = samples;
  await new Promise((resolve) => setTimeout(resolve, 50)); // ten intervals: a running timer would have sampled
  assert.equal(samples, afterClose);
});
