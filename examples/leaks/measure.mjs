// Shared by the leak examples: runs each variant of an example in its own
// process (so one variant's memory does not colour the next), samples memory
// every `every` iterations and prints a table of the growth.
//
//   node examples/leaks/<example>.mjs            all variants, a table
//   node examples/leaks/<example>.mjs <variant>  one variant, its samples
//
// Memory is read after a full GC (--expose-gc, added for the child), so the
// heap figures are what is retained, not garbage waiting for collection.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const MB = 1024 * 1024;

/**
 * @param {string} fileUrl import.meta.url of the example
 * @param {Record<string, { describe: string, run: (sample: (i: number) => void) => Promise<void> | void }>} variants
 * @param {{ iterations: number }} options
 */
export async function runExample(fileUrl, variants, { iterations }) {
  const [variant, ...rest] = process.argv.slice(2);
  if (variant && !variant.startsWith('-')) {
    if (!variants[variant]) throw new Error(`no variant "${variant}"; variants: ${Object.keys(variants).join(', ')}`);
    await variants[variant].run(createSampler(rest));
    return;
  }
  const file = fileURLToPath(fileUrl);
  console.log(`${file.split('/').slice(-3).join('/')}: ${iterations} iterations per variant, memory after a full GC\n`);
  const rows = [];
  for (const [name, { describe }] of Object.entries(variants)) {
    const samples = await runChild(file, name);
    const first = samples.find((s) => s.i > 0) ?? samples[0];
    const last = samples.at(-1);
    const per = (key) => ((last[key] - first[key]) / Math.max(1, last.i - first.i) / 1024).toFixed(1);
    rows.push([
      name,
      describe,
      `${(first.rss / MB).toFixed(0)} → ${(last.rss / MB).toFixed(0)}`,
      per('rss'),
      `${(first.heapUsed / MB).toFixed(1)} → ${(last.heapUsed / MB).toFixed(1)}`,
      per('heapUsed'),
      ...(last.extra ? [last.extra] : []),
    ]);
  }
  const headers = ['variant', 'what it does', 'RSS MB', 'RSS KB/iter', 'heap MB', 'heap KB/iter', 'at the end'];
  printRows(headers.slice(0, Math.max(...rows.map((row) => row.length))), rows);
  console.log('\n(growth is measured from the first sample, after warm-up, to the last)');
}

/** What a variant calls every so often: prints one JSON line for the parent. */
function createSampler() {
  return (i, extra) => {
    globalThis.gc?.();
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    process.stdout.write(JSON.stringify({ i, rss, heapUsed, external, arrayBuffers, extra }) + '\n');
  };
}

function runChild(file, variant) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', file, variant], { stdio: ['ignore', 'pipe', 'inherit'] });
    const samples = [];
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const sample = JSON.parse(line);
        samples.push(sample);
        if (process.stderr.isTTY) process.stderr.write(`\r  ${variant}: ${sample.i} iterations, RSS ${(sample.rss / MB).toFixed(0)} MB, heap ${(sample.heapUsed / MB).toFixed(1)} MB   `);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      if (code !== 0 || samples.length === 0) reject(new Error(`${variant} exited with ${code}`));
      else resolve(samples);
    });
  });
}

function printRows(headers, rows) {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row) => `| ${headers.map((_, i) => (row[i] ?? '').padEnd(widths[i])).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of cells.slice(1)) console.log(line(row));
}

/** Yields to the event loop's check phase, where Node 20 runs N-API finalizers. */
export const turnEventLoop = () => new Promise((resolve) => setImmediate(resolve));

// ---- heap profile, for `go tool pprof` -------------------------------------

let session;

/** Starts V8's sampling heap profiler on this thread: it sees allocations made from now on. */
export async function startHeapProfile(intervalBytes = 64 * 1024) {
  session = new Session();
  session.connect();
  await post('HeapProfiler.startSampling', { samplingInterval: intervalBytes });
}

/** Writes what is still live from the sampled allocations as a gzipped pprof file (inuse_space). */
export async function writeHeapProfile(file) {
  const { Function: PprofFunction, Line, Location, Profile, Sample, StringTable, ValueType } = await import('pprof-format');
  const { profile } = await post('HeapProfiler.getSamplingProfile');
  const strings = new StringTable();
  const functions = new Map();
  const locations = new Map();
  const locationId = (frame) => {
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\0${frame.url}\0${frame.lineNumber}`;
    if (!locations.has(key)) {
      let fn = functions.get(`${name}\0${frame.url}`);
      if (!fn) {
        fn = new PprofFunction({ id: functions.size + 1, name: strings.dedup(name), filename: strings.dedup(frame.url || '(native)') });
        functions.set(`${name}\0${frame.url}`, fn);
      }
      locations.set(key, new Location({ id: locations.size + 1, line: [new Line({ functionId: fn.id, line: frame.lineNumber + 1 })] }));
    }
    return locations.get(key).id;
  };
  const samples = [];
  const walk = (node, stack) => {
    const frames = node.callFrame.functionName === '(root)' ? stack : [node.callFrame, ...stack];
    if (node.selfSize > 0) samples.push(new Sample({ locationId: frames.map(locationId), value: [node.selfSize] }));
    for (const child of node.children) walk(child, frames);
  };
  walk(profile.head, []);
  const encoded = new Profile({
    sampleType: [new ValueType({ type: strings.dedup('inuse_space'), unit: strings.dedup('bytes') })],
    sample: samples,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    periodType: new ValueType({ type: strings.dedup('space'), unit: strings.dedup('bytes') }),
  }).encode();
  writeFileSync(file, gzipSync(encoded));
}

function post(method, params = {}) {
  return new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
}
