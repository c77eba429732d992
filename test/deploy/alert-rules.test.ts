// Keeps the operations artifacts in deploy/ true: the alert rules pass promtool's
// checks and unit tests, every alert has a test case where it fires (and one where
// it stays silent), every runbook link lands on a section of docs/RUNBOOK.md, and
// the rules and the Grafana dashboard use only metrics that chartd exports
// (docs/METRICS.md) or prom-client's default metrics.
//
// promtool comes from Debian's `prometheus` package: scripts/install-test-tools.sh.
// Without it this test fails in CI (CI=true) and is skipped elsewhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry, collectDefaultMetrics } from 'prom-client';

// compiled to dist/test/deploy/alert-rules.test.js: the repository is three levels up
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(`${root}${path}`, 'utf8');

const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
const PROMETHEUS_CONFIG = 'deploy/prometheus/prometheus.yml';
const ALERTMANAGER_CONFIG = 'deploy/alertmanager/alertmanager.yml';
const DASHBOARD = 'deploy/grafana/chartd.json';

function hasTool(name: string): boolean {
  const result = spawnSync(name, ['--version'], { encoding: 'utf8' });
  return result.error === undefined && result.status === 0;
}

const promtoolMissing = hasTool('promtool')
  ? undefined
  : 'promtool is not on PATH: run scripts/install-test-tools.sh (installs Debian\'s prometheus package)';

/** Fails in CI, skips locally, when promtool is missing; else runs it in the repo root. */
function promtool(t: { skip(message?: string): void }, ...args: string[]): { status: number | null; output: string } | undefined {
  if (promtoolMissing !== undefined) {
    if (process.env.CI === 'true') assert.fail(`${promtoolMissing}; CI must run the alert rule tests`);
    t.skip(promtoolMissing);
    return undefined;
  }
  const result = spawnSync('promtool', args, { cwd: root, encoding: 'utf8' });
  return { status: result.status, output: `$ promtool ${args.join(' ')}\n${result.stdout}${result.stderr}` };
}

// ---- reading the YAML files (no YAML dependency: they are written in a plain style)

/** Rule blocks of alerts.yml: the text from one `- alert:` line to the next. */
function alertRules(text: string): { alert: string; block: string }[] {
  const starts = [...text.matchAll(/^\s*- alert:\s*(\S+)\s*$/gm)];
  return starts.map((match, i) => ({
    alert: match[1]!,
    block: text.slice(match.index, i + 1 < starts.length ? starts[i + 1]!.index : undefined),
  }));
}

/** alert_rule_test cases of a promtool test file: alert name and whether alerts are expected. */
function alertCases(text: string): { alertname: string; fires: boolean }[] {
  const cases: { alertname: string; fires: boolean }[] = [];
  let current: { alertname?: string; fires: boolean } | undefined;
  const close = (): void => {
    if (current?.alertname !== undefined) cases.push({ alertname: current.alertname, fires: current.fires });
    current = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s*#.*$/, '').replace(/\s+#.*$/, '');
    if (/^\s*- (?:name|interval|input_series|promql_expr_test|alert_rule_test)\b/.test(line) || /^\s*(?:alert_rule_test|promql_expr_test|input_series):/.test(line)) {
      close();
    }
    if (/^\s*- (?:eval_time|alertname):/.test(line)) {
      close();
      current = { fires: false };
    }
    const name = /^\s*(?:- )?alertname:\s*['"]?([A-Za-z_:][\w:]*)/.exec(line);
    if (name && current) current.alertname = name[1];
    if (/^\s*- exp_(?:labels|annotations):/.test(line) && current) current.fires = true;
  }
  close();
  return cases;
}

/** GitHub's anchor for a Markdown heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

// ---- the metric names chartd exports

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

async function knownMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const match of read('docs/METRICS.md').matchAll(/`(chartd_[a-z0-9_]+)[`{]/g)) names.add(match[1]!);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const metric of await registry.getMetricsAsJSON()) names.add(metric.name);
  registry.clear();
  return names;
}

function isKnown(name: string, known: Set<string>): boolean {
  if (known.has(name)) return true;
  const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
  return suffix !== undefined && known.has(name.slice(0, -suffix.length));
}

/** chartd_*, process_* and nodejs_* names used in a PromQL expression. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:chartd|process|nodejs)_[a-zA-Z0-9_]*[a-zA-Z0-9])\b/g)].map((m) => m[1]!);
}

/** Every PromQL expression of a Grafana dashboard: targets, annotations, variables. */
function dashboardExpressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) dashboardExpressions(item, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'query' || key === 'definition') && typeof value === 'string') out.push(value);
      else dashboardExpressions(value, out);
    }
  }
  return out;
}

// ---- tests

test('promtool check rules accepts the alert rules', (t) => {
  const run = promtool(t, 'check', 'rules', ALERTS);
  if (!run) return;
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /SUCCESS: \d+ rules found/, run.output);
});

test('promtool test rules passes the alert unit tests', (t) => {
  const run = promtool(t, 'test', 'rules', ALERT_TESTS);
  if (!run) return;
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /SUCCESS/, run.output);
});

test('promtool check config accepts the example Prometheus configuration', (t) => {
  const run = promtool(t, 'check', 'config', PROMETHEUS_CONFIG);
  if (!run) return;
  assert.equal(run.status, 0, run.output);
});

test('every alert has a test case where it fires and one where it stays silent', () => {
  const alerts = new Set(alertRules(read(ALERTS)).map((rule) => rule.alert));
  const cases = alertCases(read(ALERT_TESTS));
  assert.ok(alerts.size >= 6, `expected at least 6 alerts in ${ALERTS}, found ${[...alerts].join(', ')}`);
  for (const alert of alerts) {
    assert.ok(cases.some((c) => c.alertname === alert && c.fires), `${ALERT_TESTS} has no case where ${alert} fires (exp_alerts with exp_labels)`);
    assert.ok(cases.some((c) => c.alertname === alert && !c.fires), `${ALERT_TESTS} has no case where ${alert} stays silent (exp_alerts: [])`);
  }
  for (const c of cases) assert.ok(alerts.has(c.alertname), `${ALERT_TESTS} tests ${c.alertname}, which ${ALERTS} does not define`);
});

test('every alert has a severity, a summary, a description and a runbook section', () => {
  const runbook = read('docs/RUNBOOK.md');
  const anchors = new Set([...runbook.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
  for (const { alert, block } of alertRules(read(ALERTS))) {
    assert.match(block, /^\s+severity: (?:critical|warning)\s*$/m, `${alert}: severity must be critical or warning`);
    assert.match(block, /^\s+summary:/m, `${alert}: no summary annotation`);
    assert.match(block, /^\s+description:/m, `${alert}: no description annotation`);
    assert.match(block, /\$labels\.instance/, `${alert}: the annotations should name the instance`);
    assert.match(block, /\$value/, `${alert}: the annotations should give the value`);
    const url = /^\s+runbook_url:\s*(\S+)\s*$/m.exec(block);
    assert.ok(url, `${alert}: no runbook_url annotation`);
    const anchor = url[1]!.split('#')[1];
    assert.equal(anchor, alert.toLowerCase(), `${alert}: runbook_url should point at #${alert.toLowerCase()}`);
    assert.ok(url[1]!.includes('docs/RUNBOOK.md#'), `${alert}: runbook_url should point into docs/RUNBOOK.md`);
    assert.ok(anchors.has(anchor!), `docs/RUNBOOK.md has no section with the anchor #${anchor} (a heading "${alert}")`);
  }
});

test('Alertmanager inhibits every other chartd alert while InstanceDown fires', (t) => {
  const config = read(ALERTMANAGER_CONFIG);
  const target = /target_matchers:\s*\n\s*- alertname=~"([^"]+)"/.exec(config);
  assert.ok(target, `${ALERTMANAGER_CONFIG}: no inhibit rule with an alertname=~ target matcher`);
  const inhibited = new Set(target[1]!.split('|'));
  for (const alert of new Set(alertRules(read(ALERTS)).map((rule) => rule.alert))) {
    if (alert !== 'InstanceDown') assert.ok(inhibited.has(alert), `${ALERTMANAGER_CONFIG}: InstanceDown does not inhibit ${alert}`);
  }
  if (!hasTool('amtool')) {
    t.diagnostic('amtool is not on PATH (Debian package prometheus-alertmanager): config syntax not checked');
    return;
  }
  const result = spawnSync('amtool', ['check-config', ALERTMANAGER_CONFIG], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});

test('the alert rules use only metrics that chartd exports', async () => {
  const known = await knownMetrics();
  const exprs = [...read(ALERTS).matchAll(/^\s+expr:\s*\|?\s*\n?((?:.*\n)*?)\s+for:/gm)].map((m) => m[1]!);
  assert.ok(exprs.length >= 6, `found only ${exprs.length} expressions in ${ALERTS}`);
  for (const name of exprs.flatMap(metricNames)) {
    assert.ok(isKnown(name, known), `${ALERTS} uses ${name}, which is neither in docs/METRICS.md nor a prom-client default metric`);
  }
});

test('the Grafana dashboard is valid JSON and uses only metrics that chartd exports', async () => {
  const dashboard = JSON.parse(read(DASHBOARD)) as { title?: string; schemaVersion?: number; panels?: { id: number; type: string; targets?: unknown[] }[] };
  assert.equal(typeof dashboard.title, 'string');
  assert.ok((dashboard.schemaVersion ?? 0) >= 36, `schemaVersion ${dashboard.schemaVersion} is too old`);
  const panels = dashboard.panels ?? [];
  const ids = panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids must be unique');
  assert.ok(panels.filter((panel) => panel.type !== 'row').every((panel) => (panel.targets ?? []).length > 0), 'every panel needs a query');

  const known = await knownMetrics();
  const exprs = dashboardExpressions(dashboard);
  const used = new Set(exprs.flatMap(metricNames));
  assert.ok(used.size >= 15, `the dashboard queries only ${used.size} metrics`);
  for (const name of used) {
    assert.ok(isKnown(name, known), `${DASHBOARD} queries ${name}, which is neither in docs/METRICS.md nor a prom-client default metric`);
  }
  for (const required of ['chartd_requests_total', 'chartd_render_duration_seconds_bucket', 'chartd_queue_depth', 'chartd_worker_heap_settled_bytes', 'chartd_worker_heap_code_bytes', 'chartd_worker_external_settled_bytes', 'chartd_leak_growth_ratio_per_hour', 'chartd_worker_restarts_total', 'process_resident_memory_bytes']) {
    assert.ok(used.has(required), `the dashboard does not show ${required}`);
  }
});
