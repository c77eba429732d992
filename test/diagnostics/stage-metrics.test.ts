// chartd_render_stage_seconds (docs/METRICS.md): after N renders through the HTTP
// API, each stage's histogram has counted N, with a positive sum, as decoded from
// the /metrics text a real server exports; promtool accepts the families.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { RunningService } from '../../src/service.js';
import { startTestService } from '../helpers/server.js';
import { eventually } from '../helpers/wait.js';

const STAGES = ['parse', 'queue', 'draw', 'encode', 'send'];
const RENDERS = 12;

let service: RunningService;
before(async () => {
  service = await startTestService({ workers: 2 });
});
after(() => service.close());

interface StageSeries {
  count: number;
  sum: number;
  /** Cumulative bucket counts by `le`. */
  buckets: Map<string, number>;
}

/** chartd_render_stage_seconds from Prometheus text, by stage. */
function stageSeries(text: string): Map<string, StageSeries> {
  const byStage = new Map<string, StageSeries>();
  const get = (stage: string) => {
    let series = byStage.get(stage);
    if (!series) byStage.set(stage, (series = { count: NaN, sum: NaN, buckets: new Map() }));
    return series;
  };
  for (const [, suffix, labels, value] of text.matchAll(/^chartd_render_stage_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/gm)) {
    const stage = /stage="(\w+)"/.exec(labels!)![1]!;
    const series = get(stage);
    if (suffix === 'count') series.count = Number(value);
    else if (suffix === 'sum') series.sum = Number(value);
    else series.buckets.set(/le="([^"]+)"/.exec(labels!)![1]!, Number(value));
  }
  return byStage;
}

test('a fresh server exports every stage at 0', async () => {
  const stages = stageSeries(await (await fetch(`${service.adminUrl}/metrics`)).text());
  assert.deepEqual([...stages.keys()].sort(), [...STAGES].sort());
  for (const [stage, series] of stages) assert.deepEqual([series.count, series.sum], [0, 0], stage);
});

test(`after ${RENDERS} renders each stage has counted ${RENDERS}, with a positive sum`, async () => {
  for (let i = 0; i < RENDERS; i++) {
    const chart = { type: ['bar', 'line', 'pie'][i % 3], data: { labels: ['a', 'b', 'c'], datasets: [{ data: [i, 2, 3] }] } };
    const reply = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chart, format: i % 2 ? 'png' : 'webp' }) });
    assert.equal(reply.status, 200);
    await reply.arrayBuffer();
  }
  // The send stage is observed on the response's 'finish', which may come a turn after the client has the body.
  await eventually(async () => {
    const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
    const stages = stageSeries(text);
    for (const stage of STAGES) {
      const series = stages.get(stage);
      assert.ok(series, `no ${stage} series`);
      assert.equal(series.count, RENDERS, `${stage} _count`);
      assert.ok(series.sum > 0, `${stage} _sum is ${series.sum}`);
      assert.equal(series.buckets.get('+Inf'), RENDERS, `${stage} +Inf bucket`);
      const cumulative = [...series.buckets.values()];
      assert.deepEqual(cumulative, [...cumulative].sort((a, b) => a - b), `${stage} buckets are cumulative`);
    }
  });
});

test('a config the worker refuses counts parse, queue and send, not draw or encode', async () => {
  const counts = async () => new Map([...stageSeries(await (await fetch(`${service.adminUrl}/metrics`)).text())].map(([stage, series]) => [stage, series.count]));
  const before = await counts();
  const reply = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chart: { type: 'no-such-type' } }) });
  assert.equal(reply.status, 400);
  await reply.arrayBuffer();
  await eventually(async () => {
    const afterwards = await counts();
    const added = Object.fromEntries(STAGES.map((stage) => [stage, afterwards.get(stage)! - before.get(stage)!]));
    assert.deepEqual(added, { parse: 1, queue: 1, draw: 0, encode: 0, send: 1 });
  });
});

test('promtool accepts chartd_render_stage_seconds', (t) => {
  return fetch(`${service.adminUrl}/metrics`)
    .then((reply) => reply.text())
    .then((text) => {
      const family = text.split('\n').filter((line) => line.includes('chartd_render_stage_seconds')).join('\n') + '\n';
      const check = spawnSync('promtool', ['check', 'metrics'], { input: family, encoding: 'utf8' });
      if (check.error) {
        if (process.env.CI === 'true') assert.fail('promtool is not on PATH: run scripts/install-test-tools.sh');
        t.skip('promtool is not on PATH');
        return;
      }
      assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
    });
});
