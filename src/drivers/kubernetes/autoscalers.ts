/**
 * For teams that keep KEDA or the HPA in charge of their Deployments: KEDA ScaledObjects with the Redis list trigger
 * on each queue's BullMQ wait list, and autoscaling/v2 HorizontalPodAutoscalers on Trireme's queue metric through a
 * Prometheus adapter. Either one scales the Deployments that `trireme export kubernetes` makes; Trireme's own
 * controller should then leave those pools alone (pause them, or drop their kubernetes driver).
 *
 * The per-replica target matches the pool's policy: target: concurrency x targetBacklogPerSlot jobs a replica;
 * threshold: its concurrency; hpa: hpaTarget. KEDA's list trigger reads the wait list only: jobs submitted with a
 * priority wait in BullMQ's `prioritized` sorted set, which it does not see.
 *
 * Each object sits beside the Deployment it scales (settings.ts: deploymentOf, with the export's namespace as home),
 * since a scale target is looked up in the object's own namespace.
 */
import type { Project } from '../../core/project.js';
import { perReplicaTarget, type PoolConfig } from '../../core/config.js';
import { isClusterUrl } from '../../core/redis-url.js';
import { poolKind } from '../../core/pool-kind.js';
import { yamlFile, type ExportFile, type ExportOptions } from '../export.js';
import { deploymentOf, exportNamespace, type DeploymentRef } from './settings.js';

/**
 * Each pool with its config and its Deployment, where the export put it: the pools whose queues are Trireme's. A
 * Celery pool is left to Trireme's controller, and the warnings say so: KEDA has no Celery scaler, its Redis-list rule
 * misses the priority lists and the prefetched, unacknowledged tasks, and neither it nor the HPA knows which workers
 * are busy when it scales in.
 */
function deployments(project: Project, o: ExportOptions): { pools: [string, PoolConfig, DeploymentRef][]; warnings: string[] } {
  const home = exportNamespace(project.config, o.namespace);
  const all = Object.entries(project.config.pools);
  return {
    pools: all.filter(([, p]) => poolKind(p).ownQueues).map(([pool, p]) => [pool, p, deploymentOf(project.config, pool, home)]),
    warnings: all.filter(([, p]) => !poolKind(p).ownQueues).map(([pool, p]) => `pool ${pool} is a ${p.kind} pool: left out, its scaling is Trireme's controller's `
      + '(KEDA and the HPA read neither its prefetched tasks nor which of its workers are busy, so a scale-in could stop a running task)'),
  };
}

function behavior(project: Project, pool: string) {
  const s = project.config.pools[pool].scaling;
  if (s.policy === 'hpa' && s.behavior) return s.behavior;
  return { scaleDown: { stabilizationWindowSeconds: Math.round(s.stabilization / 1000) } };
}

export function kedaObjects(project: Project, o: ExportOptions): ExportFile[] {
  const cfg = project.config;
  const { pools, warnings } = deployments(project, o);
  // One per namespace that holds a pool: a ScaledObject's authenticationRef names one of its own namespace.
  const docs: unknown[] = [...new Set(pools.map(([, , d]) => d.namespace))].map((namespace) => ({
    apiVersion: 'keda.sh/v1alpha1', kind: 'TriggerAuthentication',
    metadata: { name: 'trireme-redis', namespace },
    // The Secret "trireme" holds redis-address (host:port) and redis-password: docs/deploy.md's recipe creates them.
    spec: { secretTargetRef: [{ parameter: 'address', name: 'trireme', key: 'redis-address' }, { parameter: 'password', name: 'trireme', key: 'redis-password' }] },
  }));
  for (const [pool, p, { namespace, name }] of pools) {
    const s = p.scaling;
    docs.push({
      apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject',
      metadata: { name, namespace, labels: { 'trireme.dev/pool': pool } },
      spec: {
        scaleTargetRef: { name },
        minReplicaCount: p.scaling.min,
        maxReplicaCount: p.scaling.max,
        pollingInterval: Math.max(1, Math.round(cfg.controller.interval / 1000)),
        // KEDA waits this long after the last activity before it scales a pool to zero: the pool's idle shutdown.
        cooldownPeriod: Math.max(1, Math.round(s.idleShutdown / 1000)),
        advanced: { horizontalPodAutoscalerConfig: { behavior: behavior(project, pool) } },
        triggers: p.queues.map((q) => ({
          type: 'redis',
          authenticationRef: { name: 'trireme-redis' },
          metadata: { listName: `${cfg.prefix}:${q}:wait`, listLength: String(perReplicaTarget(p)), activationListLength: '0' },
        })),
      },
    });
  }
  // On a Cluster each queue's keys carry a hash tag (redis/keyspace.ts), and KEDA needs its redis-cluster scaler.
  if (cfg.redis.url && isClusterUrl(cfg.redis.url)) {
    warnings.push('redis.url is a Redis Cluster: these triggers read <prefix>:<queue>:wait with the redis scaler, but there the lists are {<prefix>:<tag>}:<queue>:wait, the tag being the queue or its redis.hashTags entry (docs/redis.md), and need KEDA\'s redis-cluster scaler; edit the triggers before applying');
  }
  return [yamlFile('keda.yaml', o.source, docs, 'KEDA ScaledObjects on BullMQ\'s wait lists.', warnings)];
}

export function hpaObjects(project: Project, o: ExportOptions): ExportFile[] {
  const { pools, warnings: left } = deployments(project, o);
  const warnings = [...left, ...pools.filter(([, p]) => p.scaling.min === 0).map(([pool]) => `pool ${pool} has min: 0, but an HPA keeps at least one replica: its minReplicas is 1 `
    + '(scaling to zero needs the HPAScaleToZero feature gate; KEDA does it: trireme export keda)')];
  const docs = pools.map(([pool, p, { namespace, name }]) => ({
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace, labels: { 'trireme.dev/pool': pool } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      // The HPA cannot scale a Deployment to zero (without the HPAScaleToZero feature gate): at least one.
      minReplicas: Math.max(1, p.scaling.min),
      maxReplicas: Math.max(1, p.scaling.max),
      // Trireme's own metric through a Prometheus adapter (external.metrics.k8s.io): jobs waiting in each queue.
      metrics: p.queues.map((q) => ({
        type: 'External',
        external: {
          metric: { name: 'trireme_queue_jobs', selector: { matchLabels: { queue: q, state: 'waiting' } } },
          target: { type: 'AverageValue', averageValue: String(perReplicaTarget(p)) },
        },
      })),
      behavior: behavior(project, pool),
    },
  }));
  return [yamlFile('hpa.yaml', o.source, docs, 'HorizontalPodAutoscalers on trireme_queue_jobs (a Prometheus adapter serves it as an external metric).', warnings)];
}
