// Keeps deploy/k8s true, offline: `kubectl kustomize deploy/k8s` renders it, every
// object is validated against the Kubernetes OpenAPI schemas (kubernetes-models) or
// prometheus-operator's CRD schemas (@kubernetes-models/prometheus-operator), which
// ship compiled in those packages (no cluster, no network), and the objects are
// checked against each other and against chartd itself: its option table, the
// resource arithmetic of deployment.yaml, the drain timings, and a real chartd
// started with the ConfigMap's options, asked on the probes' paths and the
// ServiceMonitor's, whose /metrics must carry the HPA's queue metric.
//
// The schemas do not reject unknown fields (Kubernetes' OpenAPI allows them), so a
// misspelt field is caught only where a check below reads it.
//
// kubectl comes from Debian's kubernetes-client package (1.20, kustomize 2.0.3;
// newer kubectl builds render the same objects):
// scripts/install-test-tools.sh. Without it this test fails in CI (CI=true) and is
// skipped elsewhere, as test/deploy/alert-rules.test.ts does with promtool.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { OPTION_SPECS, isLoopbackHost, resolveQueue, resolveServiceOptions, type ServiceOptions } from '../../src/options.js';
import { POOL_DEFAULTS } from '../../src/pool/pool-options.js';
import { startService } from '../../src/service.js';
import { parseDockerfile } from '../helpers/dockerfile.js';

// compiled to dist/test/deploy/k8s.test.js: the repository is three levels up
const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string): string => readFileSync(`${root}${path}`, 'utf8');

const KUSTOMIZATION = 'deploy/k8s';
/** The main process's resident memory in the worst case, MiB (docs/OPERATIONS.md "Memory"). */
const MAIN_PROCESS_MB = 150;
/** After the drain timeout: 1 s before idle connections are cut (src/service.ts CLOSE_GRACE_MS). */
const CLOSE_GRACE_MS = 1_000;

// ---- kubectl

function hasKubectl(): boolean {
  const result = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  return result.error === undefined && result.status === 0;
}
const kubectlMissing = hasKubectl()
  ? undefined
  : 'kubectl is not on PATH: run scripts/install-test-tools.sh (installs Debian\'s kubernetes-client package)';

let rendered: string | undefined;
/** `kubectl kustomize deploy/k8s`; fails in CI, skips locally, when kubectl is missing. */
function kustomize(t: { skip(message?: string): void }): string | undefined {
  if (kubectlMissing !== undefined) {
    if (process.env.CI === 'true') assert.fail(`${kubectlMissing}; CI must render and check deploy/k8s`);
    t.skip(kubectlMissing);
    return undefined;
  }
  if (rendered === undefined) {
    const result = spawnSync('kubectl', ['kustomize', KUSTOMIZATION], { cwd: root, encoding: 'utf8' });
    assert.equal(result.status, 0, `kubectl kustomize ${KUSTOMIZATION} failed:\n${result.stdout}${result.stderr}`);
    rendered = result.stdout;
  }
  return rendered;
}

// ---- the rendered objects

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

interface Model {
  validate(): void;
}
const MODELS: Record<string, new (data: any) => Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** Throws the schema's complaint, or for a kind this test has no schema for. */
function validate(object: K8sObject): void {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}: add its model to test/deploy/k8s.test.ts`);
  new model(structuredClone(object)).validate();
}

function objectsOf(text: string): K8sObject[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) throw new Error('no YAML documents');
  return documents.map((document) => {
    assert.equal(document.errors.length, 0, document.errors.join('\n'));
    return document.toJS() as K8sObject;
  });
}

interface Rendered {
  objects: K8sObject[];
  one(kind: string): K8sObject;
}
function renderedObjects(t: { skip(message?: string): void }): Rendered | undefined {
  const text = kustomize(t);
  if (text === undefined) return undefined;
  const objects = objectsOf(text);
  return {
    objects,
    one(kind) {
      const found = objects.filter((o) => o.kind === kind);
      assert.equal(found.length, 1, `expected one ${kind} in ${KUSTOMIZATION}, found ${found.length}`);
      return found[0]!;
    },
  };
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels?.[key] === value);

// ---- quantities

function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}
function mebibytes(quantity: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  assert.ok(match, `not a memory quantity: ${quantity}`);
  const bytes: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return (Number(match[1]) * (match[2] ? bytes[match[2]]! : 1)) / 2 ** 20;
}

// ---- chartd's options as the pods get them

function podOptions(r: Rendered): { options: ServiceOptions; env: Record<string, string>; container: any; pod: any } {
  const deployment = r.one('Deployment');
  const pod = deployment.spec.template.spec;
  assert.equal(pod.containers.length, 1);
  const container = pod.containers[0];
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const name = source.configMapRef?.name;
    const map = r.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    assert.ok(map, `envFrom names ConfigMap ${name}, which ${KUSTOMIZATION} does not render`);
    Object.assign(env, map.data);
  }
  for (const variable of container.env ?? []) {
    // Secrets are not in the repository: a stand-in for the required token, none for optional ones.
    if (variable.valueFrom?.secretKeyRef) {
      if (!variable.valueFrom.secretKeyRef.optional) env[variable.name] = 'token-from-the-secret';
    } else env[variable.name] = variable.value;
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('CHARTD_')) assert.ok(OPTION_SPECS.some((spec) => spec.env === name), `${name} is not a chartd option (src/options.ts)`);
  }
  // As chartd resolves them at startup: a value it refuses fails here.
  return { options: resolveServiceOptions({}, env), env, container, pod };
}

function namedPort(container: any, name: string | number): number {
  if (typeof name === 'number') return name;
  const port = container.ports.find((p: any) => p.name === name);
  assert.ok(port, `the container has no port named ${name}`);
  return port.containerPort;
}

// ---- tests

test('kubectl kustomize renders deploy/k8s, and every object passes its schema', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const kinds = r.objects.map((o) => o.kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'ServiceMonitor']);
  for (const object of r.objects) {
    try {
      validate(object);
    } catch (error) {
      assert.fail(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
    }
  }
});

test('the schema check catches broken objects', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const broken: Array<[string, (o: any) => void, RegExp]> = [
    ['Deployment', (o) => (o.spec.template.spec.containers[0].ports[0].containerPort = 'http'), /containerPort must be integer/],
    ['Deployment', (o) => delete o.spec.template.spec.containers[0].name, /must have required property '?name'?/],
    ['Service', (o) => (o.spec.ports[0].port = '80'), /port must be integer/],
    ['HorizontalPodAutoscaler', (o) => delete o.spec.scaleTargetRef.kind, /required property '?kind'?/],
    ['PodDisruptionBudget', (o) => (o.spec.selector.matchLabels = ['chartd']), /matchLabels must be object/],
    ['ServiceMonitor', (o) => (o.spec.endpoints[0].port = 9464), /port must be string/],
    ['PrometheusRule', (o) => (o.spec.groups[0].rules = 'none'), /rules must be array/],
  ];
  for (const [kind, breakIt, complaint] of broken) {
    const copy = structuredClone(r.one(kind));
    breakIt(copy);
    assert.throws(() => validate(copy), complaint, `${kind}: the schema accepted a broken copy`);
  }
  assert.throws(() => validate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }), /no schema for v1 Pod/);
});

test('selectors, ports and references agree across the objects', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const deployment = r.one('Deployment');
  const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
  assert.ok(matches(deployment.spec.selector.matchLabels, podLabels), 'the Deployment\'s selector does not match its pod labels');

  const service = r.one('Service');
  assert.ok(matches(service.spec.selector, podLabels), 'the Service selects no chartd pod');
  const { container } = podOptions(r);
  for (const port of service.spec.ports) namedPort(container, port.targetPort);

  const pdb = r.one('PodDisruptionBudget');
  assert.ok(matches(pdb.spec.selector.matchLabels, podLabels), 'the PodDisruptionBudget selects no chartd pod');

  const hpa = r.one('HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
  assert.ok(hpa.spec.minReplicas >= 2, 'fewer than 2 replicas: a rollout or a node drain leaves no pod serving');
  assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count: an applied spec.replicas resets it');
  if (pdb.spec.maxUnavailable !== undefined) assert.ok(pdb.spec.maxUnavailable < hpa.spec.minReplicas, 'the PDB lets every pod go');
  else assert.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, 'the PDB blocks every drain');

  const spread = deployment.spec.template.spec.topologySpreadConstraints as any[];
  assert.deepEqual(spread.map((c) => c.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  for (const constraint of spread) assert.ok(matches(constraint.labelSelector.matchLabels, podLabels), `the ${constraint.topologyKey} spread counts no chartd pod`);

  const monitor = r.one('ServiceMonitor');
  assert.ok(matches(monitor.spec.selector.matchLabels, service.metadata.labels), 'the ServiceMonitor selects no chartd Service');
  const servicePorts = new Map((service.spec.ports as any[]).map((p) => [p.name, p]));
  for (const endpoint of monitor.spec.endpoints) assert.ok(servicePorts.has(endpoint.port), `the ServiceMonitor scrapes port ${endpoint.port}, which the Service lacks`);

  // The job the rules select is the one the ServiceMonitor gives the scrapes.
  const job = monitor.spec.jobLabel ? service.metadata.labels?.[monitor.spec.jobLabel] : service.metadata.name;
  const jobs = new Set([...read('deploy/prometheus/alerts.yml').matchAll(/job="([^"]+)"/g)].map((m) => m[1]));
  assert.deepEqual([...jobs], [job], `the alert rules select job ${[...jobs].join(', ')}; the ServiceMonitor's scrapes get job="${job}"`);

  // The ServiceMonitor sends the token the pods were given.
  const tokenRef = container.env.find((e: any) => e.name === 'CHARTD_ADMIN_TOKEN')?.valueFrom?.secretKeyRef;
  assert.ok(tokenRef && !tokenRef.optional, 'CHARTD_ADMIN_TOKEN must come from a required Secret (chartd refuses a non-loopback admin port without one)');
  for (const endpoint of monitor.spec.endpoints) {
    assert.deepEqual(endpoint.authorization?.credentials, { name: tokenRef.name, key: tokenRef.key }, 'the ServiceMonitor must send the pods\' admin token');
  }
  const storeRef = container.env.find((e: any) => e.name === 'CHARTD_STORE')?.valueFrom?.secretKeyRef;
  assert.equal(storeRef?.optional, true, 'CHARTD_STORE from an optional Secret (without it: the embedded SQLite store)');

  // The image's tag is this package's version.
  const pkg = JSON.parse(read('package.json')) as { version: string };
  assert.equal(container.image, `chartd:${pkg.version}`);
});

test('the pods run as the image\'s non-root user on a read-only root, writing only to emptyDirs', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const { options, container, pod } = podOptions(r);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const dockerfile = parseDockerfile(read('deploy/Dockerfile'));
  const user = dockerfile.stages.at(-1)!.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args.split(':')[0];
  assert.equal(String(pod.securityContext.runAsUser), user, 'runAsUser must be deploy/Dockerfile\'s USER');
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
  const volumes = new Map((pod.volumes as any[]).map((v) => [v.name, v]));
  const mounts = new Map((container.volumeMounts as any[]).map((m) => [m.mountPath, m.name]));
  for (const path of [options.dataDir, '/tmp']) {
    const volume = volumes.get(mounts.get(path));
    assert.ok(volume?.emptyDir, `${path} must be an emptyDir (the root file system is read-only)`);
  }
});

test('resources follow from the worker count and the worker memory options', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const { options, env, container } = podOptions(r);
  // Node 20 counts the node's cores, not the container's CPU limit: the default would be wrong.
  assert.ok(env.CHARTD_WORKERS, 'set CHARTD_WORKERS: the default (one per core) counts the node\'s cores');
  const { requests, limits } = container.resources;
  assert.ok(cpuCores(requests.cpu) >= options.workers, `cpu request ${requests.cpu} below one core per worker (${options.workers})`);
  assert.ok(cpuCores(limits.cpu) > options.workers, `cpu limit ${limits.cpu} leaves the main process no core beside ${options.workers} workers`);
  const steady = options.workers * options.workerMemoryMb + MAIN_PROCESS_MB + options.renderCacheMb;
  const worst = options.workers * options.workerMemoryLimitMb + MAIN_PROCESS_MB + options.renderCacheMb;
  assert.ok(mebibytes(requests.memory) >= steady, `memory request ${requests.memory} below workers x --worker-memory + main + cache = ${steady} MiB`);
  assert.ok(mebibytes(limits.memory) >= worst, `memory limit ${limits.memory} below workers x --worker-memory-limit + main + cache = ${worst} MiB: the kernel would kill before chartd does`);
  assert.ok(mebibytes(limits.memory) < worst * 1.25, `memory limit ${limits.memory} far above the ${worst} MiB chartd can use: recompute it`);
});

test('the grace period covers the preStop sleep and chartd\'s drain', (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const { options, container, pod } = podOptions(r);
  const command = container.lifecycle.preStop.exec?.command as string[] | undefined;
  const sleepSeconds = command ? Number(command[command.length - 1]) : Number(container.lifecycle.preStop.sleep?.seconds);
  assert.ok(command === undefined || command[0] === 'sleep', `preStop runs ${command?.join(' ')}`);
  assert.ok(sleepSeconds >= 5, 'the preStop sleep should give endpoints and load balancers a few seconds');
  // --drain-delay where this chartd has it: serving on with /readyz failing after SIGTERM.
  const drainDelayMs = (options as unknown as Partial<Record<string, unknown>>).drainDelayMs;
  const stopMs = sleepSeconds * 1000 + (typeof drainDelayMs === 'number' ? drainDelayMs : 0) + options.drainTimeoutMs + CLOSE_GRACE_MS + POOL_DEFAULTS.exitGraceMs;
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > stopMs, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} is not above the ${stopMs / 1000} s a stop can take`);
});

test('the probes and the ServiceMonitor ask real chartd endpoints, and /metrics has the HPA\'s queue metric', async (t) => {
  const r = renderedObjects(t);
  if (!r) return;
  const { options, container } = podOptions(r);
  const { livenessProbe, readinessProbe, startupProbe } = container;
  assert.notEqual(livenessProbe.httpGet.path, readinessProbe.httpGet.path, 'liveness and readiness must differ: a draining or saturated pod goes unready, it is not restarted');
  assert.ok(!isLoopbackHost(options.host) && !isLoopbackHost(options.adminHost), 'both listeners must bind beyond loopback in a pod');
  for (const probe of [livenessProbe, readinessProbe, startupProbe]) {
    assert.equal(namedPort(container, probe.httpGet.port), options.port, 'the probes ask the public listener (--port)');
  }
  const monitor = r.one('ServiceMonitor');
  const service = r.one('Service');
  const endpoint = monitor.spec.endpoints[0];
  const servicePort = (service.spec.ports as any[]).find((p) => p.name === endpoint.port);
  assert.equal(namedPort(container, servicePort.targetPort), options.adminPort, '/metrics is on the admin listener (--admin-port), not the public one');

  const hpa = r.one('HorizontalPodAutoscaler');
  const podsMetrics = (hpa.spec.metrics as any[]).filter((m) => m.type === 'Pods');
  assert.equal(podsMetrics.length, 1);
  const queueMetric = podsMetrics[0].pods.metric.name as string;
  assert.ok(hpa.spec.metrics.some((m: any) => m.type === 'Resource' && m.resource.name === 'cpu'), 'the HPA scales on CPU too');
  const target = Number(podsMetrics[0].pods.target.averageValue);
  assert.ok(target > 0 && target < resolveQueue(options), `the queue target ${target} must be below a pod's queue (${resolveQueue(options)}): a full queue sheds and goes unready`);

  // chartd as the pod runs it, on this machine's loopback and ephemeral ports.
  const dataDir = mkdtempSync(join(tmpdir(), 'chartd-k8s-'));
  const chartd = await startService({ ...options, host: '127.0.0.1', port: 0, adminHost: '127.0.0.1', adminPort: 0, workers: 1, logLevel: 'silent', dataDir, renderCacheMb: 0 });
  t.after(async () => {
    await chartd.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  for (const [name, probe] of [['liveness', livenessProbe], ['readiness', readinessProbe], ['startup', startupProbe]] as const) {
    const response = await fetch(`${chartd.url}${probe.httpGet.path}`);
    assert.equal(response.status, 200, `${name} probe ${probe.httpGet.path}: ${response.status}`);
  }
  assert.deepEqual(await (await fetch(`${chartd.url}${readinessProbe.httpGet.path}`)).json(), { ready: true });
  const unauthorized = await fetch(`${chartd.adminUrl}${endpoint.path}`);
  assert.equal(unauthorized.status, 401, 'the admin port should want the token the ServiceMonitor sends');
  const metrics = await fetch(`${chartd.adminUrl}${endpoint.path}`, { headers: { authorization: `Bearer ${options.adminToken}` } });
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  assert.match(text, new RegExp(`^# TYPE ${queueMetric} gauge$`, 'm'), `/metrics has no gauge ${queueMetric}, the HPA's Pods metric`);
  assert.match(text, new RegExp(`^${queueMetric} \\d+$`, 'm'));
});

test('prometheusrule.yaml is what scripts/gen-prometheusrule.js makes of alerts.yml', () => {
  const result = spawnSync(process.execPath, ['scripts/gen-prometheusrule.js', '--stdout'], { cwd: root, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(read('deploy/k8s/prometheusrule.yaml'), result.stdout, 'deploy/k8s/prometheusrule.yaml is stale: run node scripts/gen-prometheusrule.js');
  const rule = parse(result.stdout) as K8sObject;
  const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: unknown[] };
  assert.deepEqual(rule.spec.groups, alerts.groups, 'the PrometheusRule must carry alerts.yml\'s groups unchanged');
  assert.doesNotThrow(() => validate(rule));
  const check = spawnSync(process.execPath, ['scripts/gen-prometheusrule.js', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});
