/**
 * The namespace rule (drivers/kubernetes/settings.ts), read by the driver and by every Kubernetes exporter: the
 * controller that runs from `trireme export kubernetes`'s manifests, with the config their ConfigMap carries and in
 * the namespace its own pod runs in, looks for each pool's Deployment where the export put it. The export writes into
 * `--namespace`, else `drivers.kubernetes.namespace`, else `trireme`; the driver looks in the pool's namespace, else
 * `drivers.kubernetes.namespace`, else (in a pod) its own pod's namespace, else `default`. An export the controller
 * could not follow (a `--namespace` other than the config's, a pool in a namespace of its own) is refused. KEDA's
 * and the HPA's objects sit beside the Deployments they scale.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CLI } from '../helpers.js';
import type { KubeObject } from '../kubernetes-checks.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { KubernetesDriver, type KubernetesApi } from '../../src/drivers/kubernetes/driver.js';
import { silentLogger } from '../../src/system/log.js';

const tmp = mkdtempSync(join(tmpdir(), 'trireme-k8s-ns-'));
const IMAGE = 'registry.example/jobs:1';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: tmp }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const objects = (text: string): KubeObject[] => parseAllDocuments(text).map((d) => d.toJSON() as KubeObject).filter((o) => o !== null);

let n = 0;
function config(text: string): string {
  const file = join(tmp, `trireme-${n++}.yml`);
  writeFileSync(file, text);
  return file;
}

const POOLS = `pools:
  heavy: { queues: [default], driver: kubernetes }
  gpu: { queues: [gpu], driver: { kind: kubernetes, deployment: gpu-workers } }
`;

/**
 * An API server that holds only the given Deployments, as a cluster would after `kubectl apply` of the export: any
 * other namespace or name is a 404, as the real one answers.
 */
function cluster(deployments: KubeObject[]): { api: KubernetesApi; asked: string[] } {
  const held = new Map(deployments.map((d) => [`${d.metadata.namespace}/${d.metadata.name}`, d]));
  const asked: string[] = [];
  const find = (namespace: string, name: string) => {
    asked.push(`${namespace}/${name}`);
    const d = held.get(`${namespace}/${name}`);
    if (!d) throw Object.assign(new Error('not found'), { code: 404, body: JSON.stringify({ kind: 'Status', message: `deployments.apps "${name}" not found`, reason: 'NotFound', code: 404 }) });
    return { spec: { replicas: d.spec.replicas }, status: { replicas: d.spec.replicas, selector: `app.kubernetes.io/name=${name}` } };
  };
  return {
    asked,
    api: {
      readScale: async (namespace, name) => find(namespace, name),
      patchScale: async (namespace, name) => find(namespace, name),
      listPods: async () => ({ items: [] }),
      annotatePod: async () => {},
    },
  };
}

/** The controller's driver as `serve` builds it in the controller's pod: in-cluster, its pod in `podNamespace`. */
function controllerDriver(project: Project, api: KubernetesApi, podNamespace: string): KubernetesDriver {
  const namespaceFile = join(tmp, `namespace-${n++}`);
  writeFileSync(namespaceFile, podNamespace);
  return new KubernetesDriver(api, project.config, silentLogger, { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, namespaceFile });
}

describe('one namespace rule for the export and the controller', () => {
  const cases = [
    { what: 'a config that names no namespace', yaml: POOLS, flags: [] as string[], namespace: 'trireme' },
    { what: '--namespace jobs (docs/deploy.md\'s recipe) with a config that names none', yaml: POOLS, flags: ['--namespace', 'jobs'], namespace: 'jobs' },
    { what: 'drivers.kubernetes.namespace', yaml: `drivers: { kubernetes: { namespace: apps } }\n${POOLS}`, flags: [], namespace: 'apps' },
    { what: 'drivers.kubernetes.namespace and the same --namespace', yaml: `drivers: { kubernetes: { namespace: apps } }\n${POOLS}`, flags: ['--namespace', 'apps'], namespace: 'apps' },
  ];
  for (const c of cases) {
    test(`${c.what}: the controller run from the exported manifests finds every pool's Deployment (in ${c.namespace})`, async () => {
      const r = await cli(['-c', config(c.yaml), 'export', 'kubernetes', '--image', IMAGE, ...c.flags]);
      assert.equal(r.code, 0, r.stderr);
      const exported = objects(r.stdout);
      const namespaces = [...new Set(exported.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace))];
      assert.deepEqual(namespaces, [c.namespace], 'every object in one namespace');
      const controller = exported.find((o) => o.kind === 'Deployment' && o.metadata.name === 'trireme-controller')!;
      // What the controller's pod reads: the config from the ConfigMap, mounted at the path its args name.
      const configMap = exported.find((o) => o.kind === 'ConfigMap')!;
      const project = await loadProject(config(configMap.data['trireme.yml']), {}, { tasks: false });
      const pools = exported.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['trireme.dev/pool']);
      assert.deepEqual(pools.map((d) => d.metadata.name).sort(), ['gpu-workers', 'trireme-heavy']);
      const { api, asked } = cluster(pools);
      const driver = controllerDriver(project, api, controller.metadata.namespace!);
      for (const pool of ['heavy', 'gpu']) {
        await assert.doesNotReject(driver.list(pool), `pool ${pool}: the controller looked in ${asked.at(-1)}`);
        assert.equal(await driver.start(pool, 1), 1);
        assert.deepEqual(driver.health(pool), { status: 'ok', restarts: 0 });
      }
      assert.deepEqual([...new Set(asked)].sort(), [`${c.namespace}/gpu-workers`, `${c.namespace}/trireme-heavy`]);
    });
  }

  test('an export the controller could not follow is refused, naming the setting and the fix', async () => {
    const other = await cli(['-c', config(`drivers: { kubernetes: { namespace: apps } }\n${POOLS}`), 'export', 'kubernetes', '--namespace', 'jobs', '--image', IMAGE]);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /--namespace jobs, but drivers\.kubernetes\.namespace is "apps"/);
    for (const kind of ['keda', 'hpa']) assert.equal((await cli(['-c', config(`drivers: { kubernetes: { namespace: apps } }\n${POOLS}`), 'export', kind, '--namespace', 'jobs'])).code, 2, kind);
    const own = await cli(['-c', config(`pools:\n  heavy: { queues: [default], driver: { kind: kubernetes, namespace: gpu } }\n`), 'export', 'kubernetes', '--image', IMAGE]);
    assert.equal(own.code, 2, own.stderr);
    assert.match(own.stderr, /pools\.heavy\.driver\.namespace is "gpu"/);
    assert.equal(own.stdout, '');
  });

  test('KEDA\'s and the HPA\'s objects sit beside the Deployment they scale, a pool\'s own namespace included', async () => {
    const file = config(`drivers: { kubernetes: { namespace: apps } }\npools:\n  heavy: { queues: [default], driver: kubernetes }\n  gpu: { queues: [gpu], driver: { kind: kubernetes, namespace: gpu } }\n`);
    const keda = objects((await cli(['-c', file, 'export', 'keda'])).stdout);
    const where = (os: KubeObject[], kind: string) => Object.fromEntries(os.filter((o) => o.kind === kind).map((o) => [o.metadata.name, o.metadata.namespace]));
    assert.deepEqual(where(keda, 'ScaledObject'), { 'trireme-heavy': 'apps', 'trireme-gpu': 'gpu' });
    // A ScaledObject's authenticationRef names a TriggerAuthentication of its own namespace.
    assert.deepEqual(keda.filter((o) => o.kind === 'TriggerAuthentication').map((o) => o.metadata.namespace).sort(), ['apps', 'gpu']);
    const hpa = objects((await cli(['-c', file, 'export', 'hpa'])).stdout);
    assert.deepEqual(where(hpa, 'HorizontalPodAutoscaler'), { 'trireme-heavy': 'apps', 'trireme-gpu': 'gpu' });
  });
});
