/**
 * The Kubernetes driver: a pool is a Deployment (default `trireme-<pool>`), scaled through its `scale` subresource.
 * Its pods are its replicas, known by pod name (each replica runs with `--id $(POD_NAME)`). Scaling in, the controller
 * first drains the idle victims (they stop taking jobs and wait); then this driver sets
 * `controller.kubernetes.io/pod-deletion-cost` lowest on them and highest on busy pods, and lowers the count, so the
 * ReplicaSet controller removes the drained pods and no running job is killed. serve's exit leaves the Deployments as
 * they are. A 403 names the verb and resource the controller's Role lacks.
 *
 * Where each pool's Deployment is, settings.ts says (the exporters read the same rule). The API comes in as the narrow
 * KubernetesApi: client.ts adapts @kubernetes/client-node to it, tests give a fake.
 */
import type { Config } from '../../core/config.js';
import type { SetCountDriver, DriverReplica, PoolHealth, ScaleIn } from '../driver.js';
import type { Logger } from '../../system/log.js';
import { controllerNamespace, deploymentOf, sharedSettings, type DeploymentRef, type Surroundings } from './settings.js';

/** pod-deletion-cost values: the ReplicaSet controller removes pods with the lowest cost first. */
export const DELETION_COST = { victim: '-1000', busy: '1000' } as const;
const COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';

/** The slice of the API this driver uses, so that it can be given a client built elsewhere. */
export interface KubernetesApi {
  readScale(namespace: string, name: string): Promise<ScaleLike>;
  patchScale(namespace: string, name: string, replicas: number): Promise<ScaleLike>;
  listPods(namespace: string, labelSelector: string): Promise<{ items: PodLike[] }>;
  annotatePod(namespace: string, name: string, annotations: Record<string, string>): Promise<void>;
}

export interface ScaleLike { spec?: { replicas?: number }; status?: { replicas?: number; selector?: string } }
export interface PodLike {
  metadata?: { name?: string; creationTimestamp?: string | Date; deletionTimestamp?: string | Date; annotations?: Record<string, string> };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** A call the API refused, explained: what the controller was doing and which permission it lacks. */
export class KubernetesError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'KubernetesError';
  }
}

interface Call { verb: string; resource: string; group: string; namespace: string; name?: string }

/** Turns an API failure into a sentence a person can act on; a 403 names the verb, the resource and the fix. */
export function explain(err: unknown, call: Call): KubernetesError {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  const status = e.code ?? e.statusCode;
  let body: { message?: string; reason?: string } = {};
  try { body = typeof e.body === 'string' ? JSON.parse(e.body) : (e.body as typeof body) ?? {}; } catch { /* not JSON */ }
  const what = `${call.verb} ${call.resource}${call.name ? ` "${call.name}"` : ''} in namespace ${call.namespace}`;
  if (status === 403) {
    const who = /User "([^"]+)"/.exec(body.message ?? '')?.[1];
    return new KubernetesError(`kubernetes: forbidden to ${what}${who ? ` as ${who}` : ''}: give the controller's Role the verb "${call.verb}" on resource "${call.resource}" in API group "${call.group}" (deploy/kubernetes/rbac.yaml has the least rights the driver needs)`, 403);
  }
  if (status === 404) return new KubernetesError(`kubernetes: cannot ${what}: not found; create it (trireme export kubernetes) or name it under the pool's driver settings`, 404);
  if (status === 401) return new KubernetesError(`kubernetes: unauthorized to ${what}: check the kubeconfig's credentials or the service account token`, 401);
  return new KubernetesError(`kubernetes: cannot ${what}: ${body.message ?? e.message ?? String(err)}`, status);
}

/** A pod as a replica: named by the pod, stopping once it is being deleted. */
export function podReplica(p: PodLike, pool: string): DriverReplica | undefined {
  const name = p.metadata?.name;
  if (!name || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return undefined;
  const created = p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : 0;
  return {
    id: name, pool, handle: `pod ${name}`, host: name, startedAt: created,
    phase: p.metadata?.deletionTimestamp ? 'stopping' : 'running',
  };
}

export class KubernetesDriver implements SetCountDriver {
  readonly name = 'kubernetes';
  readonly scaleIn = 'set-count' as const;
  readonly placement = 'elsewhere' as const;
  private readonly errors = new Map<string, string>();
  private readonly selectors = new Map<string, string>();
  /** The namespace of the pools whose config names none: the controller's own pod's, else `default`. */
  private readonly home: string;

  /** `where`: what the controller reads of where it runs (its pod's namespace), for tests. */
  constructor(private readonly api: KubernetesApi, private readonly config: Config, private readonly log: Logger, where: Surroundings = {}) {
    this.home = controllerNamespace(sharedSettings(config), where);
  }

  private target(pool: string): DeploymentRef {
    return deploymentOf(this.config, pool, this.home);
  }

  /** Runs one API call; a failure is remembered as the pool's health and rethrown explained. */
  private async call<T>(pool: string, c: Omit<Call, 'namespace'> & { namespace?: string }, fn: () => Promise<T>): Promise<T> {
    const call = { namespace: this.target(pool).namespace, ...c };
    try {
      const out = await fn();
      this.errors.delete(pool);
      return out;
    } catch (err) {
      const e = explain(err, call);
      if (this.errors.get(pool) !== e.message) this.log.warn({ pool, err: e.message }, 'kubernetes call failed');
      this.errors.set(pool, e.message);
      throw e;
    }
  }

  private async scale(pool: string): Promise<ScaleLike> {
    const { namespace, name } = this.target(pool);
    const s = await this.call(pool, { verb: 'get', resource: 'deployments/scale', group: 'apps', name }, () => this.api.readScale(namespace, name));
    if (s.status?.selector) this.selectors.set(pool, s.status.selector);
    return s;
  }

  async list(pool: string): Promise<DriverReplica[]> {
    const { namespace } = this.target(pool);
    const selector = this.selectors.get(pool) ?? (await this.scale(pool)).status?.selector;
    if (!selector) throw new KubernetesError(`kubernetes: the Deployment of pool ${pool} reports no selector in its scale subresource`);
    const pods = await this.call(pool, { verb: 'list', resource: 'pods', group: '' }, () => this.api.listPods(namespace, selector));
    return pods.items.map((p) => podReplica(p, pool)).filter((r): r is DriverReplica => !!r);
  }

  async start(pool: string, count: number): Promise<number> {
    const { namespace, name } = this.target(pool);
    const current = (await this.scale(pool)).spec?.replicas ?? 0;
    await this.call(pool, { verb: 'patch', resource: 'deployments/scale', group: 'apps', name }, () => this.api.patchScale(namespace, name, current + count));
    return count;
  }

  async setCount(pool: string, count: number, scaleIn: ScaleIn): Promise<{ note?: string }> {
    const { namespace, name } = this.target(pool);
    // The drained victims first, busy pods last: the ReplicaSet controller removes the lowest cost first.
    const marks: [DriverReplica, string][] = [...scaleIn.victims.map((v) => [v, DELETION_COST.victim] as [DriverReplica, string]), ...scaleIn.busy.map((b) => [b, DELETION_COST.busy] as [DriverReplica, string])];
    await Promise.all(marks.map(([r, cost]) => this.call(pool, { verb: 'patch', resource: 'pods', group: '', name: r.id }, () => this.api.annotatePod(namespace, r.id, { [COST_ANNOTATION]: cost }))));
    await this.call(pool, { verb: 'patch', resource: 'deployments/scale', group: 'apps', name }, () => this.api.patchScale(namespace, name, count));
    return {};
  }

  health(pool: string): PoolHealth {
    const err = this.errors.get(pool);
    return err ? { status: 'error', message: err, restarts: 0 } : { status: 'ok', restarts: 0 };
  }

  /** Pods belong to the cluster: serve's exit leaves them running. */
  async close(): Promise<void> {}
}
