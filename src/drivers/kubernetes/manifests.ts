/**
 * Kubernetes manifests from a config: the Namespace (labelled to enforce the restricted Pod Security level), one
 * Deployment per pool (the replica spec: `worker --pool P --id $(POD_NAME)` so that the driver knows a pod's replica by
 * name, or a Celery pool's worker named `$(POD_NAME)@<host>` from the pool's own image; the pool's env and resources,
 * GPUs as nvidia.com/gpu, terminationGracePeriodSeconds from the drain grace, a preStop that drains Trireme's
 * replica), the controller's Deployment and Service (serve: controller, API, dashboard), and the least rights the
 * Kubernetes driver uses.
 *
 * Every pod passes the restricted Pod Security level: it runs as the image's unprivileged user, with no privilege
 * escalation, no capabilities, the runtime's seccomp profile and a read-only root; what Trireme writes goes to
 * emptyDirs (/tmp: the ready file, tsx's compile cache; `.trireme` beside the config: serve's run folder).
 *
 * Everything goes into one namespace (settings.ts: exportNamespace), the one the exported controller, running there
 * with this config, looks in; a pool whose config puts its Deployment elsewhere is refused rather than exported
 * where the controller would not find it.
 */
import type { Project } from '../../core/project.js';
import { posix } from 'node:path';
import { replicaSpec } from '../spec.js';
import { cpuQuantity, escapeDollars, ExportError, foreignWithoutImage, IMAGE_CONFIG_PATH, imageWarning, memoryQuantity, yamlFile, type ExportFile, type ExportOptions } from '../export.js';
import { deploymentOf, exportNamespace } from './settings.js';

const label = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'trireme' });
/** The Redis URL and the API token come from a Secret the operator creates (see docs/deploy.md). */
const fromSecret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: 'trireme', key } } });

/** The user and group of deploy/docker/Dockerfile's images (`USER 1000:1000`, the node images' "node"). */
export const IMAGE_USER = 1000;
const podSecurity = { runAsNonRoot: true, runAsUser: IMAGE_USER, runAsGroup: IMAGE_USER, fsGroup: IMAGE_USER, seccompProfile: { type: 'RuntimeDefault' } };
const containerSecurity = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
/** Kubernetes' own namespaces: the export neither creates nor labels them. */
const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

/** The config from the ConfigMap, and the emptyDirs for what a read-only root cannot hold. */
function podFiles(configPath: string) {
  return {
    volumes: [{ name: 'config', configMap: { name: 'trireme-config' } }, { name: 'tmp', emptyDir: {} }, { name: 'state', emptyDir: {} }],
    mounts: [
      { name: 'config', mountPath: configPath, subPath: 'trireme.yml', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'state', mountPath: posix.join(posix.dirname(configPath), '.trireme') },
    ],
  };
}

/** Where the pod's name goes in a replica's arguments: written as $(POD_NAME), which the kubelet expands. */
const POD_NAME = '\u0001POD_NAME\u0001';

/** A word in `sh -c`: single-quoted, so that nothing in it is expanded. */
const shellWord = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

export function kubernetesManifests(project: Project, o: ExportOptions): ExportFile[] {
  const files: ExportFile[] = [];
  const ns = exportNamespace(project.config, o.namespace);
  const configPath = o.configPath ?? IMAGE_CONFIG_PATH;
  const pools = Object.keys(project.config.pools).map((pool) => ({ pool, deployment: deploymentOf(project.config, pool, ns) }));
  const elsewhere = pools.filter((p) => p.deployment.namespace !== ns);
  if (elsewhere.length) {
    // The ConfigMap, the Secret and the controller's Role live in one namespace, which is where its pods must be.
    throw new ExportError(elsewhere.map((p) => `pools.${p.pool}.driver.namespace is "${p.deployment.namespace}", but the export writes the controller, the config and the Role into ${ns}, where the pool's pods need them: remove the pool's namespace to export it with the others`).join('; '));
  }
  const image = imageWarning(o.image);
  const warnings = [...(image ? [image] : []), ...foreignWithoutImage(project)];
  const { volumes, mounts } = podFiles(configPath);
  if (!SYSTEM_NAMESPACES.has(ns)) {
    // First in the stream, and first of the files by name: `kubectl apply -f DIR` applies them in that order.
    files.push(yamlFile('00-namespace.yaml', o.source, [{
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: ns, labels: { 'app.kubernetes.io/part-of': 'trireme', 'pod-security.kubernetes.io/enforce': 'restricted' } },
    }], 'The namespace, admitting only pods that pass the restricted Pod Security level.'));
  }
  for (const { pool, deployment: { name } } of pools) {
    const p = project.config.pools[pool];
    const spec = replicaSpec(project, pool, { configPath, id: POD_NAME });
    // The kubelet expands $(VAR) in args and env values: what comes from the config is escaped, POD_NAME is meant.
    // Trireme's replica takes it as --id, another program where its kind puts the id (a Celery node name).
    const own = !spec.entrypoint;
    const args = spec.args.map((a) => escapeDollars(a).replaceAll(POD_NAME, '$(POD_NAME)'));
    const limits: Record<string, string> = { memory: memoryQuantity(spec.resources.memory) };
    if (spec.resources.gpu > 0) limits['nvidia.com/gpu'] = String(spec.resources.gpu);
    files.push(yamlFile(`pool-${pool}.yaml`, o.source, [{
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name, namespace: ns, labels: { ...label(name), 'trireme.dev/pool': pool } },
      spec: {
        // The controller sets the count through the scale subresource; this is where a fresh install starts.
        replicas: p.scaling.min,
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        template: {
          metadata: { labels: { ...label(name), 'trireme.dev/pool': pool } },
          spec: {
            terminationGracePeriodSeconds: Math.ceil(spec.stopGraceMs / 1000),
            securityContext: podSecurity,
            containers: [{
              name: 'worker', image: spec.image ?? o.image, ...(spec.entrypoint ? { command: spec.entrypoint.map(escapeDollars) } : {}), args,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                fromSecret('TRIREME_REDIS_URL', 'redis-url'),
                { name: 'TRIREME_READY_FILE', value: '/tmp/trireme-ready' },
                ...Object.entries(spec.env).map(([k, v]) => ({ name: k, value: escapeDollars(v) })),
              ],
              resources: { requests: { cpu: cpuQuantity(spec.resources.cpu), memory: memoryQuantity(spec.resources.memory) }, limits },
              // Trireme's replica is ready once it serves its queues (it writes the file when it has started). A
              // Celery worker writes none; it needs no preStop either (below).
              ...(own ? { readinessProbe: { exec: { command: ['cat', '/tmp/trireme-ready'] }, periodSeconds: 2 } } : {}),
              securityContext: containerSecurity,
              volumeMounts: mounts,
              // Trireme's replica drains before the SIGTERM: it takes no new job, running ones finish within the grace.
              // The kubelet does not expand $(VAR) in exec hooks, so a shell reads the pod's name from the environment.
              // A Celery worker's SIGTERM is its warm shutdown, and the controller drains it before a scale-in
              // (cancel_consumer).
              ...(own ? {
                lifecycle: {
                  preStop: { exec: { command: ['sh', '-c', `exec trireme -c ${shellWord(configPath)} drain "$POD_NAME" --wait --timeout ${Math.ceil(spec.drainGraceMs / 1000)}s`] } },
                },
              } : {}),
            }],
            volumes,
          },
        },
      },
    }], `The ${pool} pool: its count belongs to the controller.`, warnings));
  }
  files.push(yamlFile('configmap.yaml', o.source, [{
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'trireme-config', namespace: ns }, data: { 'trireme.yml': o.configText },
  }], 'The config every pod reads; the task code is in the image.'));
  files.push(yamlFile('controller.yaml', o.source, [
    {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'trireme-controller', namespace: ns, labels: label('trireme-controller') },
      spec: {
        // Two: one leads (a lease in Redis), the other takes over within controller.leaseTtl.
        replicas: 2,
        selector: { matchLabels: { 'app.kubernetes.io/name': 'trireme-controller' } },
        template: {
          metadata: { labels: label('trireme-controller') },
          spec: {
            serviceAccountName: 'trireme-controller',
            securityContext: podSecurity,
            containers: [{
              name: 'serve', image: o.image, args: ['-c', escapeDollars(configPath), 'serve', '--host', '0.0.0.0', '--no-tasks'],
              env: [fromSecret('TRIREME_REDIS_URL', 'redis-url'), fromSecret('TRIREME_API_TOKEN', 'api-token')],
              ports: [{ name: 'http', containerPort: project.config.api.port }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              securityContext: containerSecurity,
              volumeMounts: mounts,
            }],
            volumes,
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'trireme-api', namespace: ns, labels: label('trireme-controller') },
      spec: { selector: { 'app.kubernetes.io/name': 'trireme-controller' }, ports: [{ name: 'http', port: project.config.api.port, targetPort: 'http' }] },
    },
  ], 'The controller, the HTTP API and the dashboard.', warnings));
  files.push(yamlFile('rbac.yaml', o.source, [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'trireme-controller', namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role',
      metadata: { name: 'trireme-controller', namespace: ns },
      rules: [
        // Read and set each pool's count.
        { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'patch'] },
        // List a pool's pods (its replicas), and mark them with pod-deletion-cost before a scale-in.
        { apiGroups: [''], resources: ['pods'], verbs: ['list', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding',
      metadata: { name: 'trireme-controller', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'trireme-controller' },
      subjects: [{ kind: 'ServiceAccount', name: 'trireme-controller', namespace: ns }],
    },
  ], 'The least rights the Kubernetes driver needs.'));
  return files;
}
