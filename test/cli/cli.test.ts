import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { OPTION_SPECS, SERVICE_DEFAULTS } from '../../src/options.js';
import { countDrawnPixels, decodeImage, pixelAt } from '../helpers/images.js';

/** The `chartd` command in child processes: outputs, exit codes, help texts. */

const BIN = fileURLToPath(new URL('../../../bin/chartd.js', import.meta.url));
const CONFIG = { type: 'bar', data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'n', data: [3, 1, 2] }] } };
const LITERAL = "{type:'line',data:{labels:['x','y'],datasets:[{data:[1,2],borderColor:'blue'}]}}";

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function chartd(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal) reject(new Error(`chartd ${args.join(' ')} killed by ${signal} (hang guard); stderr: ${stderr}`));
      else resolve({ code, stdout: Buffer.concat(stdout), stderr });
    });
    child.stdin.on('error', () => {}); // a child that exits before reading stdin
    child.stdin.end(options.stdin ?? '');
  });
}

describe('chartd render', { concurrency: 4 }, () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chartd-cli-'));
    configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(CONFIG));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('config.json -o out.png writes a PNG at the default size', async () => {
    const out = join(dir, 'out.png');
    const run = await chartd(['render', configPath, '-o', out]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.length, 0, 'nothing on stdout when writing a file');
    const image = await decodeImage(await readFile(out));
    assert.deepEqual([image.format, image.width, image.height], ['png', 1000, 600]);
    assert.ok(countDrawnPixels(image) > 100);
  });

  it('takes the format from the output extension', async () => {
    const cases: [string, string][] = [
      ['out.svg', 'svg'],
      ['out.jpg', 'jpeg'],
      ['out.jpeg', 'jpeg'],
      ['out.webp', 'webp'],
      ['OUT.PNG', 'png'],
    ];
    await Promise.all(
      cases.map(async ([name, format]) => {
        const out = join(dir, name);
        const run = await chartd(['render', configPath, '-o', out, '--width', '300', '--height', '200', '--dpr', '1']);
        assert.equal(run.code, 0, `${name}: ${run.stderr}`);
        const image = await decodeImage(await readFile(out));
        assert.deepEqual([image.format, image.width, image.height], [format, 300, 200], name);
      }),
    );
    const pdf = join(dir, 'out.pdf');
    const run = await chartd(['render', configPath, '-o', pdf, '-w', '300', '-H', '200']);
    assert.equal(run.code, 0, run.stderr);
    const bytes = await readFile(pdf);
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
    assert.match(bytes.toString('latin1'), /MediaBox\s*\[0 0 300 200\]/);
  });

  it('--format wins over the extension', async () => {
    const out = join(dir, 'really-svg.png');
    const run = await chartd(['render', configPath, '-o', out, '--format', 'svg']);
    assert.equal(run.code, 0, run.stderr);
    assert.match((await readFile(out, 'utf8')).slice(0, 200), /<svg/);
  });

  it('reads standard input with "-" and writes -o', async () => {
    const out = join(dir, 'stdin.png');
    const run = await chartd(['render', '-', '-o', out, '--width', '300', '--height', '200', '--dpr', '1'], { stdin: LITERAL });
    assert.equal(run.code, 0, run.stderr);
    const image = await decodeImage(await readFile(out));
    assert.deepEqual([image.format, image.width, image.height], ['png', 300, 200]);
    assert.ok(countDrawnPixels(image) > 50);
  });

  it('writes to standard output without -o (binary safe), and base64 as a data URI', async () => {
    const png = await chartd(['render', '-', '-w', '200', '-H', '100', '--dpr', '1'], { stdin: JSON.stringify(CONFIG) });
    assert.equal(png.code, 0, png.stderr);
    const image = await decodeImage(png.stdout);
    assert.deepEqual([image.format, image.width, image.height], ['png', 200, 100]);

    const base64 = await chartd(['render', configPath, '-f', 'base64', '-w', '200', '-H', '100', '--dpr', '1']);
    assert.equal(base64.code, 0, base64.stderr);
    const text = base64.stdout.toString('latin1');
    assert.match(text, /^data:image\/png;base64,/);
    const decoded = await decodeImage(Buffer.from(text.slice(text.indexOf(',') + 1), 'base64'));
    assert.deepEqual([decoded.width, decoded.height], [200, 100]);
  });

  it('--width 300 --height 200 --dpr 1 sets the size, and --dpr 2 doubles it', async () => {
    const one = join(dir, 'dpr1.png');
    const two = join(dir, 'dpr2.png');
    const [a, b] = await Promise.all([
      chartd(['render', configPath, '-o', one, '--width', '300', '--height', '200', '--dpr', '1']),
      chartd(['render', configPath, '-o', two, '--width', '300', '--height', '200', '--dpr', '2']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const [imageOne, imageTwo] = await Promise.all([decodeImage(await readFile(one)), decodeImage(await readFile(two))]);
    assert.deepEqual([imageOne.width, imageOne.height], [300, 200]);
    assert.deepEqual([imageTwo.width, imageTwo.height], [600, 400]);
  });

  it('--background and --chartjs are applied', async () => {
    const out = join(dir, 'background.png');
    const run = await chartd(['render', configPath, '-o', out, '-w', '200', '-H', '100', '--dpr', '1', '--background', 'ff0000', '--chartjs', '4']);
    assert.equal(run.code, 0, run.stderr);
    const image = await decodeImage(await readFile(out));
    assert.deepEqual(pixelAt(image, 0, 0), [255, 0, 0, 255]);
    const short = join(dir, 'background-short.png');
    const again = await chartd(['render', configPath, '-o', short, '-w', '200', '-H', '100', '--dpr', '1', '-b', '#ff0000', '--chartjs', '4']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok((await readFile(short)).equals(await readFile(out)), '-b and --background are the same option');
    const badVersion = await chartd(['render', configPath, '-o', join(dir, 'v9.png'), '--chartjs', '9']);
    assert.equal(badVersion.code, 2);
    assert.match(badVersion.stderr, /VERSION_UNSUPPORTED/);
  });

  it('a bad config exits 2 with its code on standard error and writes nothing', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"type": "bar", "data": {');
    const out = join(dir, 'bad.png');
    const run = await chartd(['render', bad, '-o', out]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /CONFIG_SYNTAX/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(out), false);

    const cases: [string, string, string[]][] = [
      ['unknown type', JSON.stringify({ type: 'sparkle', data: { datasets: [] } }), ['CHART_TYPE_UNKNOWN']],
      ['callback that throws', "{type:'bar',data:{labels:['a'],datasets:[{data:[1]}]},options:{scales:{yAxes:[{ticks:{callback:function(){throw new Error('boom')}}}]}}}", ['SCRIPT_ERROR']],
      ['empty input', '', ['CONFIG_MISSING']],
    ];
    for (const [name, stdin, codes] of cases) {
      const result = await chartd(['render', '-'], { stdin });
      assert.equal(result.code, 2, `${name}: ${result.stderr}`);
      assert.ok(codes.some((code) => result.stderr.includes(code)), `${name}: ${result.stderr}`);
      assert.equal(result.stdout.length, 0, name);
    }
  });

  it('bad options exit 2', async () => {
    const runs = await Promise.all([
      chartd(['render', configPath, '-o', join(dir, 'x.png'), '--width', '100000']),
      chartd(['render', configPath, '--format', 'gif']),
      chartd(['render', configPath, '--dpr', 'abc']),
      chartd(['render', configPath, configPath]),
      chartd(['render', configPath, '--no-such-option']),
    ]);
    const expected = ['IMAGE_TOO_LARGE', 'FORMAT_UNSUPPORTED', 'PARAM_INVALID', 'PARAM_INVALID', undefined];
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `case ${i}: ${run.stderr}`);
      assert.equal(run.stdout.length, 0, `case ${i}`);
      const code = expected[i];
      if (code) assert.match(run.stderr, new RegExp(code), `case ${i}`);
    });
  });

  it('a missing config file exits 2', async () => {
    const run = await chartd(['render', join(dir, 'does-not-exist.json'), '-o', join(dir, 'never.png')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /PARAM_INVALID/);
    assert.match(run.stderr, /ENOENT/);
    assert.equal(existsSync(join(dir, 'never.png')), false);
  });

  it('an output it cannot write exits 1 (not the caller\'s config)', async () => {
    const run = await chartd(['render', configPath, '-o', join(dir, 'no-such-dir', 'out.png')]);
    assert.equal(run.code, 1, run.stderr);
  });
});

describe('chartd help and commands', { concurrency: 4 }, () => {
  it('--help exits 0 and names both commands', async () => {
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const run = await chartd(args);
      assert.equal(run.code, 0, args.join(' '));
      const text = run.stdout.toString();
      assert.match(text, /chartd serve/);
      assert.match(text, /chartd render/);
    }
  });

  it('--version prints the package version', async () => {
    const run = await chartd(['--version']);
    assert.equal(run.code, 0);
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(run.stdout.toString().trim(), version);
  });

  it('render --help exits 0 and lists every option', async () => {
    const run = await chartd(['render', '--help']);
    assert.equal(run.code, 0);
    const text = run.stdout.toString();
    for (const option of ['-o, --output', '-f, --format', '-w, --width', '-H, --height', '--dpr', '-b, --background', '--chartjs', '-h, --help']) {
      assert.ok(text.includes(option), `render --help lists ${option}`);
    }
    for (const format of ['png', 'webp', 'jpeg', 'svg', 'pdf', 'base64']) assert.match(text, new RegExp(`\\b${format}\\b`));
    assert.equal((await chartd(['render', '-h'])).code, 0);
  });

  it('serve --help exits 0 and lists every flag, environment variable and default of OPTION_SPECS', async () => {
    const run = await chartd(['serve', '--help']);
    assert.equal(run.code, 0, run.stderr);
    const text = run.stdout.toString();
    const lines = text.split('\n');
    for (const spec of OPTION_SPECS) {
      const line = lines.find((candidate) => candidate.trimStart().startsWith(`--${spec.flag} `));
      assert.ok(line, `serve --help lists --${spec.flag}`);
      assert.ok(line.includes(spec.env), `--${spec.flag} names ${spec.env}`);
      assert.ok(line.includes(String(SERVICE_DEFAULTS[spec.key])), `--${spec.flag} shows its default`);
    }
    // And nothing it lists is unknown to OPTION_SPECS.
    const listed = lines.map((line) => /^\s+--([a-z-]+)\s/.exec(line)?.[1]).filter((flag): flag is string => flag !== undefined);
    assert.deepEqual(listed.sort(), [...OPTION_SPECS.map((spec) => spec.flag), 'help'].sort());
  });

  it('serve with an invalid option value exits 2 before listening', async () => {
    const flag = await chartd(['serve', '--port', 'abc']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--port/);
    const env = await chartd(['serve'], { env: { ...process.env, CHARTD_WORKERS: '0' } });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /CHARTD_WORKERS/);
    const level = await chartd(['serve', '--log-level', 'loud']);
    assert.equal(level.code, 2);
  });

  it(
    'serve with an unknown flag exits 2 with a usage message',
    async () => {
      const run = await chartd(['serve', '--no-such-flag']);
      assert.equal(run.code, 2, run.stderr);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    },
  );

  it('an unknown command exits 2 with the usage on standard error', async () => {
    const run = await chartd(['frobnicate']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout.length, 0);
    assert.match(run.stderr, /frobnicate/);
    assert.match(run.stderr, /chartd serve/);
  });
});
