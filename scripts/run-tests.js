#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's test runner.
// GC is exposed so leak tests can measure memory after a full collection.
// Usage: node scripts/run-tests.js [substring filter...]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);
const files = readdirSync(testDir, { recursive: true })
  .map(String)
  .filter((file) => file.endsWith('.test.js'))
  .map((file) => join(testDir, file))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}
console.log(`running ${files.length} test files: ${files.map((file) => relative(testDir, file)).join(', ')}`);
const result = spawnSync(process.execPath, ['--expose-gc', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, CHARTD_LOG_LEVEL: process.env.CHARTD_LOG_LEVEL ?? 'silent' },
});
process.exit(result.status ?? 1);
