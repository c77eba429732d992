import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderWorkers } from '../helpers/processes.js';
import { startTestService } from '../helpers/server.js';

/** CPU ticks of a process's main thread and of all its other threads, from /proc. */
function threadTicks(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch {
      continue; // the thread ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (Number(tid) === pid) main += ticks;
    else others += ticks;
  }
  return { main, others };
}

const line = (i: number) => ({
  width: 400,
  height: 300,
  devicePixelRatio: 2,
  chart: {
    type: 'line',
    data: { labels: Array.from({ length: 100 }, (_, k) => k), datasets: [{ label: `series ${i}`, data: Array.from({ length: 100 }, (_, k) => 50 + 30 * Math.sin(k / 12 + i)) }] },
  },
});

test("a render worker collects garbage on its own thread: V8's GC helper threads take no CPU from the other workers", async () => {
  const service = await startTestService({ workers: 1 });
  try {
    const [worker] = renderWorkers(process.pid);
    assert.ok(worker, 'a render worker runs');
    const before = threadTicks(worker.pid);
    for (let i = 0; i < 60; i++) {
      const response = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(line(i)) });
      assert.equal(response.status, 200);
      await response.arrayBuffer();
    }
    const after = threadTicks(worker.pid);
    const main = after.main - before.main;
    const others = after.others - before.others;
    assert.ok(main >= 20, `the renders took ${main} ticks of the main thread, enough to compare`);
    // Left: libuv's pool deflating the PNGs and Node's own threads (measured: 29-31 % of the
    // main thread's time). With V8's parallel and concurrent GC threads on, they took 66 %.
    assert.ok(others < 0.45 * main, `threads besides the main one took ${others} ticks against its ${main}`);
  } finally {
    await service.close();
  }
});
