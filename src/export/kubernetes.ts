/**
 * Kubernetes manifests from a config: one Deployment per pool (the replica spec: `worker --pool P --id $(POD_NAME)`
 * so that the driver knows a pod's replica by name, the pool's env and resources, GPUs as nvidia.com/gpu,
 * terminationGracePeriodSeconds from the drain grace, a preStop that drains), the controller's Deployment and
 * Service (serve: controller, API, dashboard), and the least rights the Kubernetes driver uses.
 */
import type { Project } from '../project.js';
import { replicaSpec } from '../drivers/spec.js';
import { cpuQuantity, memoryQuantity, yamlFile, type ExportFile, type ExportOptions } from './files.js';

const label = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'trireme' });
/** The Redis URL and the API token come from a Secret the operator creates (see docs/deploy.md). */
const fromSecret = (name: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: 'trireme', key } } });

export function deploymentName(pool: string, project: Project): string {
  const s = project.config.pools[pool].driver;
  return (s.kind === 'kubernetes' && typeof s.settings.deployment === 'string') ? s.settings.deployment : `trireme-${pool}`;
}

export function kubernetesManifests(project: Project, o: ExportOptions): ExportFile[] {
  const files: ExportFile[] = [];
  const ns = o.namespace;
  for (const pool of Object.keys(project.config.pools)) {
    const p = project.config.pools[pool];
    const spec = replicaSpec(project, pool, { configPath: o.configPath, extraArgs: ['--id', '$(POD_NAME)'] });
    const name = deploymentName(pool, project);
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
            containers: [{
              name: 'worker', image: o.image, args: spec.args,
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                fromSecret('TRIREME_REDIS_URL', 'redis-url'),
                { name: 'TRIREME_READY_FILE', value: '/tmp/trireme-ready' },
                ...Object.entries(spec.env).map(([k, v]) => ({ name: k, value: v })),
              ],
              resources: { requests: { cpu: cpuQuantity(spec.resources.cpu), memory: memoryQuantity(spec.resources.memory) }, limits },
              // Ready once the replica serves its queues (it writes the file when it has started).
              readinessProbe: { exec: { command: ['cat', '/tmp/trireme-ready'] }, periodSeconds: 2 },
              volumeMounts: [{ name: 'config', mountPath: o.configPath, subPath: 'trireme.yml', readOnly: true }],
              lifecycle: {
                // Drain before the SIGTERM: take no new job, let running ones finish within the grace.
                preStop: { exec: { command: ['trireme', '-c', o.configPath, 'drain', '$(POD_NAME)', '--wait', '--timeout', `${Math.ceil(spec.drainGraceMs / 1000)}s`] } },
              },
            }],
            volumes: [{ name: 'config', configMap: { name: 'trireme-config' } }],
          },
        },
      },
    }], `The ${pool} pool: its count belongs to the controller.`));
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
            containers: [{
              name: 'serve', image: o.image, args: ['-c', o.configPath, 'serve', '--host', '0.0.0.0', '--no-tasks'],
              env: [fromSecret('TRIREME_REDIS_URL', 'redis-url'), fromSecret('TRIREME_API_TOKEN', 'api-token')],
              ports: [{ name: 'http', containerPort: project.config.api.port }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              volumeMounts: [{ name: 'config', mountPath: o.configPath, subPath: 'trireme.yml', readOnly: true }],
            }],
            volumes: [{ name: 'config', configMap: { name: 'trireme-config' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'trireme-api', namespace: ns, labels: label('trireme-controller') },
      spec: { selector: { 'app.kubernetes.io/name': 'trireme-controller' }, ports: [{ name: 'http', port: project.config.api.port, targetPort: 'http' }] },
    },
  ], 'The controller, the HTTP API and the dashboard.'));
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
