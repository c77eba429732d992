import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CATALOG } from '../src/errors.js';
import { OPTION_SPECS, SERVICE_DEFAULTS, resolveServiceOptions } from '../src/options.js';

const root = new URL('../../', import.meta.url);

test('flags win over environment, environment over defaults', () => {
  const options = resolveServiceOptions({ port: '4000' }, { CHARTD_PORT: '5000', CHARTD_WORKERS: '3', CHARTD_HOST: '0.0.0.0' });
  assert.equal(options.port, 4000);
  assert.equal(options.workers, 3);
  assert.equal(options.host, '0.0.0.0');
  assert.equal(options.queue, SERVICE_DEFAULTS.queue);
});

test('defaults bind loopback on port 3400', () => {
  const options = resolveServiceOptions({}, {});
  assert.equal(options.host, '127.0.0.1');
  assert.equal(options.port, 3400);
});

test('an admin port beyond loopback needs a token', () => {
  assert.throws(() => resolveServiceOptions({ 'admin-host': '0.0.0.0' }, {}), /without a token/);
  assert.equal(resolveServiceOptions({ 'admin-host': '0.0.0.0' }, { CHARTD_ADMIN_TOKEN: 's3cret' }).adminToken, 's3cret');
  assert.equal(resolveServiceOptions({ 'admin-host': '127.0.0.2' }, {}).adminHost, '127.0.0.2');
});

test('a zero stays zero and bad values name their source', () => {
  assert.equal(resolveServiceOptions({ queue: '0' }, {}).queue, 0);
  assert.throws(() => resolveServiceOptions({ workers: '0' }, {}), /--workers must be an integer >= 1/);
  assert.throws(() => resolveServiceOptions({}, { CHARTD_TIMEOUT_MS: 'soon' }), /CHARTD_TIMEOUT_MS must be an integer/);
  assert.throws(() => resolveServiceOptions({ 'error-images': 'sometimes' }, {}), /--error-images must be one of auto, always, never/);
});

test('the worker memory limit cannot be below the recycle budget', () => {
  assert.throws(() => resolveServiceOptions({ 'worker-memory': '600', 'worker-memory-limit': '500' }, {}), /--worker-memory-limit\) must be at least/);
  assert.equal(resolveServiceOptions({ 'worker-memory': '600', 'worker-memory-limit': '600' }, {}).workerMemoryLimitMb, 600);
});

test('the README documents every option with its flag, variable and default', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  for (const spec of OPTION_SPECS) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`--${spec.flag}\` |`));
    assert.ok(row, `README has no row for --${spec.flag}`);
    assert.ok(row.includes(`\`${spec.env}\``), `README row of --${spec.flag} lacks ${spec.env}`);
    const value = SERVICE_DEFAULTS[spec.key] === '' ? '(none)' : SERVICE_DEFAULTS[spec.key];
    if (spec.key !== 'workers') assert.ok(row.includes(`| ${value} |`), `README default of --${spec.flag} is not ${value}`);
  }
});

test('docs/API.md lists every error code with its status', () => {
  const api = readFileSync(new URL('docs/API.md', root), 'utf8');
  for (const [code, { statusCode }] of Object.entries(ERROR_CATALOG)) {
    assert.ok(api.includes(`| \`${code}\` | ${statusCode} |`), `docs/API.md lacks "| \`${code}\` | ${statusCode} |"`);
  }
});
