// The first scrape of a fresh chartd already has every counter series a dashboard
// or alert sums over, at 0: `sum by (code) (rate(chartd_render_errors_total[5m]))`
// must not be empty until the first error. promtool checks the text is valid.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { ERROR_CATALOG } from '../../src/errors.js';
import type { RunningService } from '../../src/service.js';
import { startTestService } from '../helpers/server.js';

let service: RunningService;
let firstScrape: string;
before(async () => {
  service = await startTestService({ workers: 1 });
  // Nothing rendered or refused yet: this is what Prometheus sees first.
  firstScrape = await (await fetch(`${service.adminUrl}/metrics`)).text();
});
after(() => service.close());

test('chartd_render_errors_total has every code of the error catalog at 0 before any error', () => {
  const codes = new Map([...firstScrape.matchAll(/^chartd_render_errors_total\{code="([A-Z_]+)"\} (\S+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
  assert.deepEqual([...codes.keys()].sort(), Object.keys(ERROR_CATALOG).sort());
  for (const [code, value] of codes) assert.equal(value, 0, `${code} starts at ${value}`);
});

test('an error counts under its code; the others stay at 0', async () => {
  const reply = await fetch(`${service.url}/chart`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"chart": "{type: \'bar\', data: ["}' });
  assert.equal(reply.status, 400);
  const { code } = (await reply.json()) as { code: string };
  const text = await (await fetch(`${service.adminUrl}/metrics`)).text();
  const counted = [...text.matchAll(/^chartd_render_errors_total\{code="([A-Z_]+)"\} (\S+)$/gm)].filter((m) => Number(m[2]) > 0).map((m) => m[1]);
  assert.deepEqual(counted, [code]);
});

test('promtool accepts the first scrape', (t) => {
  const check = spawnSync('promtool', ['check', 'metrics'], { input: firstScrape, encoding: 'utf8' });
  if (check.error) {
    if (process.env.CI === 'true') assert.fail('promtool is not on PATH: run scripts/install-test-tools.sh');
    t.skip('promtool is not on PATH');
    return;
  }
  // check metrics exits 1 on lint warnings (help text style) too: only parse errors fail here.
  assert.doesNotMatch(`${check.stdout}${check.stderr}`, /error while linting|parse error|text format parsing error/i);
});
