// Keeps deploy/Dockerfile true to the code, without a Docker engine (CI has none,
// and Debian ships no Dockerfile linter): the file is parsed (test/helpers/dockerfile.ts)
// and checked against package.json, package-lock.json, .dockerignore and chartd's
// option table, and chartd is started from the repository with the image's ENV and
// CMD so that the image's HEALTHCHECK command runs against the real server.
//
// Not checked here (it needs an engine and the network): that the base image pulls,
// that apt-get and npm ci succeed in it, and the image's size.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OPTION_SPECS, SERVICE_DEFAULTS, isLoopbackHost, type ServiceOptions } from '../../src/options.js';
import { durationMs, isIgnored, parseCopy, parseDockerfile, parseHealthcheck, stageEnv, type Instruction, type Stage } from '../helpers/dockerfile.js';
import { freePort } from '../helpers/servers.js';
import { waitFor } from '../helpers/wait.js';
import { MALLOC_SETTINGS } from '../../src/pool/worker-process.js';

// compiled to dist/test/deploy/dockerfile.test.js: the repository is three levels up
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

const DOCKERFILE = 'deploy/Dockerfile';
const dockerfile = parseDockerfile(read(DOCKERFILE));
const runtime = dockerfile.stages[dockerfile.stages.length - 1]!;
const runtimeEnv = stageEnv(runtime);

interface PackageJson {
  version: string;
  engines: { node: string };
  bin: Record<string, string>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
}
const pkg = JSON.parse(read('package.json')) as PackageJson;

const envName = (key: keyof ServiceOptions): string => OPTION_SPECS.find((spec) => spec.key === key)!.env;
const only = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);
const runs = (stage: Stage): string[] => only(stage, 'RUN').map((i) => i.args);
const stageNamed = (name: string): Stage => {
  const stage = dockerfile.stages.find((s) => s.name === name);
  assert.ok(stage, `${DOCKERFILE}: no stage named ${name}`);
  return stage;
};

/** `VAR=value ... command args` of an npm script: its variables and its argv. */
function splitScript(script: string): { env: Record<string, string>; argv: string[] } {
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Za-z_]\w*=/.test(words[0]!)) {
    const [name, ...value] = words.shift()!.split('=');
    env[name!] = value.join('=');
  }
  return { env, argv: words };
}

test('every stage is Node 20 slim on Debian bookworm, the Node the package supports', () => {
  assert.ok(dockerfile.stages.length >= 2, `${DOCKERFILE}: expected a multi-stage build, found ${dockerfile.stages.length} stage(s)`);
  for (const stage of dockerfile.stages) assert.equal(stage.image, 'node:20-bookworm-slim', `stage ${stage.name ?? '(runtime)'}`);
  const major = /(\d+)/.exec(pkg.engines.node)?.[1];
  assert.equal(major, '20', `package.json engines.node is ${pkg.engines.node}: the image's Node 20 must satisfy it`);
});

test('the runtime stage gets production dependencies only, with the native modules built', () => {
  const copies = only(runtime, 'COPY').map(parseCopy);
  const modules = copies.find((c) => c.sources.some((s) => /node_modules\/?$/.test(s)));
  assert.ok(modules?.from, 'the runtime stage must COPY node_modules --from a dependencies stage');
  const deps = stageNamed(modules.from);
  const install = runs(deps).join(' && ');
  assert.match(install, /npm ci\b[^&]*--omit=dev/, `stage ${modules.from} must install with npm ci --omit=dev`);
  // package.json's "prepare" (npm run build: rm dist, tsc) runs on npm ci, and tsc is
  // a dev dependency: --omit=dev needs --ignore-scripts, and the install scripts of
  // production dependencies then run by name.
  assert.ok(pkg.scripts.prepare, 'package.json has no prepare script: reconsider --ignore-scripts');
  assert.match(install, /npm ci\b[^&]*--ignore-scripts/, 'npm ci --omit=dev would run "prepare" (tsc, absent): add --ignore-scripts');
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean; hasInstallScript?: boolean }> };
  const scripted = Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && entry.hasInstallScript && !entry.dev && !entry.devOptional)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  assert.ok(scripted.includes('better-sqlite3'), `expected better-sqlite3 among the production packages with install scripts, got ${scripted.join(', ')}`);
  for (const name of scripted) {
    assert.match(install, new RegExp(`npm rebuild\\b[^&]*\\s${name.replace(/[/.]/g, '\\$&')}\\b`), `${name} has an install script that --ignore-scripts skipped: npm rebuild ${name}`);
  }
  // No compiler in the image that runs.
  for (const tool of ['g++', 'gcc', 'make', 'python3', 'build-essential']) {
    assert.ok(!runs(runtime).some((command) => new RegExp(`apt-get install[^&]*\\s${tool.replace(/\+/g, '\\+')}(\\s|$)`).test(command)), `the runtime stage installs ${tool}`);
  }
});

test('the runtime stage has what bin/chartd.js needs: package.json, bin/ and the compiled dist/src', () => {
  const copies = only(runtime, 'COPY').map(parseCopy);
  const fromContext = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources.map((s) => s.replace(/\/$/, '')));
  // "type": "module" (bin/ and dist/ are ES modules) and the version chartd reports.
  assert.ok(fromContext.includes('package.json'), 'the runtime stage must COPY package.json');
  for (const target of Object.values(pkg.bin)) {
    const dir = target.split('/')[0]!;
    assert.ok(fromContext.includes(dir) || fromContext.includes(target), `the runtime stage must COPY ${target} (package.json "bin")`);
  }
  const dist = copies.find((c) => c.sources.some((s) => s.replace(/\/$/, '').endsWith('dist/src')));
  assert.ok(dist?.from, 'the runtime stage must COPY dist/src --from the build stage');
  assert.ok(runs(stageNamed(dist.from)).some((command) => /npm run build\b/.test(command)), `stage ${dist.from} must run npm run build`);
  assert.match(read('bin/chartd.js'), /\.\.\/dist\/src\/cli\/main\.js/, 'bin/chartd.js loads dist/src/cli/main.js');
});

test('every COPY source exists in the repository and is in the build context (.dockerignore)', () => {
  assert.ok(existsSync(join(root, '.dockerignore')), 'no .dockerignore at the repository root');
  const dockerignore = read('.dockerignore');
  const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
  let checked = 0;
  for (const stage of dockerfile.stages) {
    for (const copy of only(stage, 'COPY').map(parseCopy)) {
      if (copy.from !== undefined) {
        assert.ok(stageNames.has(copy.from), `line ${copy.line}: COPY --from=${copy.from} names no stage`);
        continue;
      }
      for (const source of copy.sources) {
        assert.ok(existsSync(join(root, source)), `line ${copy.line}: COPY ${source}: not in the repository`);
        assert.ok(!isIgnored(dockerignore, source.replace(/\/$/, '')), `line ${copy.line}: COPY ${source}: excluded by .dockerignore`);
        checked++;
      }
    }
  }
  assert.ok(checked >= 5, `only ${checked} COPY sources checked`);
  // What must stay out of the context: local builds, dependencies, data, secrets in git.
  for (const path of ['node_modules', 'dist', 'data', '.git', 'test', 'bench/out']) {
    assert.ok(isIgnored(dockerignore, path), `.dockerignore lets ${path} into the build context`);
  }
  // .npmrc: npm ci needs legacy-peer-deps=true to resolve the Chart.js plugins' peers.
  if (existsSync(join(root, '.npmrc'))) {
    assert.ok(
      dockerfile.stages.every((s) => !runs(s).some((c) => /npm ci\b/.test(c)) || only(s, 'COPY').map(parseCopy).some((c) => c.sources.includes('.npmrc'))),
      'every stage that runs npm ci must COPY .npmrc',
    );
  }
});

test('the image sets the malloc environment of `npm start` and runs its command', () => {
  const start = splitScript(pkg.scripts.start!);
  const malloc = Object.keys(start.env).filter((name) => name.startsWith('MALLOC_'));
  assert.ok(malloc.length >= 2, `package.json "start" sets ${Object.keys(start.env).join(', ')}: expected the MALLOC_ thresholds`);
  for (const name of malloc) assert.equal(runtimeEnv[name], start.env[name], `ENV ${name} must equal package.json "start"`);
  // ... and what the pool gives its workers (they inherit the main process's values).
  assert.deepEqual(Object.fromEntries(malloc.map((name) => [name, start.env[name]])), { ...MALLOC_SETTINGS });
  const cmd = only(runtime, 'CMD').at(-1);
  assert.ok(cmd?.json, 'CMD must be in exec form (JSON array): tini passes signals to it directly');
  assert.deepEqual(cmd.json, start.argv, 'CMD must run what package.json "start" runs');
  assert.deepEqual(cmd.json.slice(1), ['bin/chartd.js', 'serve']);
});

test('tini is PID 1, the user is not root, the port is exposed and the data directory is a volume', () => {
  const entrypoint = only(runtime, 'ENTRYPOINT').at(-1);
  assert.deepEqual(entrypoint?.json, ['/usr/bin/tini', '--'], 'ENTRYPOINT must be tini (Debian installs it as /usr/bin/tini)');
  assert.ok(runs(runtime).some((c) => /apt-get install[^&]*\stini(\s|$)/.test(c)), 'the runtime stage must apt-get install tini');
  const user = only(runtime, 'USER').at(-1);
  assert.ok(user, 'the runtime stage sets no USER: chartd would run as root');
  const uid = user.args.split(':')[0]!;
  assert.notEqual(uid, 'root');
  assert.match(uid, /^\d+$/, 'USER must be numeric: Kubernetes runAsNonRoot cannot check a user name');
  assert.notEqual(Number(uid), 0, 'USER 0 is root');
  const cmdLine = only(runtime, 'CMD').at(-1)!.line;
  assert.ok(user.line < cmdLine, 'USER must come before CMD');

  // Listen options through chartd's own variables (a renamed option fails here).
  for (const name of Object.keys(runtimeEnv).filter((n) => n.startsWith('CHARTD_'))) {
    assert.ok(OPTION_SPECS.some((spec) => spec.env === name), `ENV ${name} is not a chartd option (src/options.ts)`);
  }
  const host = runtimeEnv[envName('host')];
  assert.ok(host !== undefined && !isLoopbackHost(host), `ENV ${envName('host')} must be a non-loopback address (chartd binds ${SERVICE_DEFAULTS.host} by default), got ${host}`);
  const port = Number(runtimeEnv[envName('port')] ?? SERVICE_DEFAULTS.port);
  const adminPort = Number(runtimeEnv[envName('adminPort')] ?? SERVICE_DEFAULTS.adminPort);
  const exposed = only(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.split('/')[0]));
  assert.ok(exposed.includes(port), `EXPOSE ${exposed.join(' ')} lacks the public port ${port}`);
  assert.ok(exposed.includes(adminPort), `EXPOSE ${exposed.join(' ')} lacks the admin port ${adminPort}`);
  const dataDir = runtimeEnv[envName('dataDir')] ?? SERVICE_DEFAULTS.dataDir;
  assert.ok(dataDir.startsWith('/'), `ENV ${envName('dataDir')} must be an absolute path (the default ${SERVICE_DEFAULTS.dataDir} is relative to WORKDIR)`);
  const volumes = only(runtime, 'VOLUME').flatMap((i) => i.json ?? i.args.split(/\s+/));
  assert.ok(volumes.includes(dataDir), `VOLUME ${volumes.join(' ')} lacks ${dataDir}`);
  assert.ok(runs(runtime).some((c) => c.includes(`chown ${uid}`) && c.includes(dataDir)), `${dataDir} must belong to the image's user ${uid} (a new volume copies its owner)`);
});

test('the HEALTHCHECK command succeeds against chartd started with the image\'s ENV and CMD, and fails without it', async (t) => {
  const instruction = only(runtime, 'HEALTHCHECK').at(-1);
  assert.ok(instruction, 'the runtime stage has no HEALTHCHECK');
  const healthcheck = parseHealthcheck(instruction);
  const path = /\/\w+z\b/.exec(healthcheck.command.join(' '))?.[0];
  assert.equal(path, '/healthz', 'the HEALTHCHECK must ask the liveness endpoint (/readyz fails while draining or saturated: that container is alive)');
  assert.ok(durationMs(healthcheck.options.timeout ?? '30s') < durationMs(healthcheck.options.interval ?? '30s'));
  // Start period: at least the time chartd may take to listen (the pool's ready timeout, 30 s).
  assert.ok(durationMs(healthcheck.options['start-period'] ?? '0s') >= 30_000, 'HEALTHCHECK --start-period below the 30 s chartd may take to start listening');

  const cmd = only(runtime, 'CMD').at(-1)!.json!;
  const dataDir = mkdtempSync(join(tmpdir(), 'chartd-dockerfile-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...runtimeEnv,
    // This machine is not the container: its own ports, directory, one worker, and
    // no drain delay (where chartd has one) to keep the stop short.
    [envName('port')]: String(port),
    [envName('adminPort')]: '0',
    [envName('dataDir')]: dataDir,
    [envName('workers')]: '1',
    [envName('logLevel')]: 'warn',
    CHARTD_DRAIN_DELAY_MS: '0',
  };
  assert.equal(cmd[0], 'node');
  const child = spawn(process.execPath, cmd.slice(1), { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));

  const runHealthcheck = () => {
    assert.equal(healthcheck.command[0], 'node', 'the HEALTHCHECK runs node (the slim image has no curl)');
    return spawnSync(process.execPath, healthcheck.command.slice(1), { env, encoding: 'utf8', timeout: durationMs(healthcheck.options.timeout ?? '30s') });
  };
  await waitFor('chartd to answer /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`chartd exited with ${child.exitCode}: ${stderr}`);
    return (await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined))?.ok === true;
  }, 30_000, 100);
  const healthy = runHealthcheck();
  assert.equal(healthy.status, 0, `HEALTHCHECK failed against a running chartd: ${healthy.stdout}${healthy.stderr}`);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(ready.status, 200, 'a chartd that answers the HEALTHCHECK should be ready too');

  // SIGTERM (what tini forwards on `docker stop`): chartd drains and exits 0.
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `chartd did not exit 0 on SIGTERM: ${stderr}`);
  const unhealthy = runHealthcheck();
  assert.notEqual(unhealthy.status, 0, 'the HEALTHCHECK passed with no chartd listening');
});

test('the image leaves the worker sizing to where the container\'s resources are set', () => {
  // Workers default to one per core the process sees; memory budgets go with the
  // container's limit (deploy/k8s/deployment.yaml): a value baked in here would
  // silently disagree with both.
  for (const key of ['workers', 'workerMemoryMb', 'workerMemoryLimitMb', 'workerHeapMb'] as const) {
    assert.equal(runtimeEnv[envName(key)], undefined, `the image should not fix ${envName(key)}`);
  }
});
