/**
 * The Kubernetes driver: a pool is a Deployment (default `trireme-<pool>`), scaled through its `scale` subresource.
 * Its pods are its replicas, known by pod name (each replica runs with `--id $(POD_NAME)`). Scaling in, the controller first drains the idle victims (they stop taking jobs and wait); then this
 * driver sets `controller.kubernetes.io/pod-deletion-cost` lowest on them and highest on busy pods, and lowers the
 * count, so the ReplicaSet controller removes the drained pods and no running job is killed. serve's exit leaves the
 * Deployments as they are. A 403 names the verb and resource the controller's Role lacks.
 *
 * Client: @kubernetes/client-node, loaded when the driver is built (in-cluster config, a kubeconfig, or the
 * default ~/.kube/config). It is an optional peer dependency of the package: a project without Kubernetes pools does
 * not install it (about 70 MB), and one that has them is told to when it is missing.
 */
import { z } from 'zod';
import { poolsOn } from '../spec.js';
import { MissingPackageError } from '../../core/errors.js';
import { manifest, PACKAGE_NAME } from '../../paths.js';
import type { SetCountDriver, DriverContext, DriverKind, DriverReplica, PoolHealth, ScaleIn } from '../driver.js';
import type { Logger } from '../../log.js';

const shared = z.strictObject({
  /** The namespace of the pools' Deployments. */
  namespace: z.string().min(1).default('default'),
  /** A kubeconfig file; default: in-cluster when running in a pod, else ~/.kube/config (or KUBECONFIG). */
  kubeconfig: z.string().optional(),
  /** A context of the kubeconfig other than its current one. */
  context: z.string().optional(),
});
const pool = z.strictObject({
  /** The pool's Deployment; default trireme-<pool>. */
  deployment: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
});

export type KubernetesSettings = z.output<typeof shared>;

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

  constructor(private readonly api: KubernetesApi, private readonly settings: KubernetesSettings, private readonly pools: Record<string, { deployment?: string; namespace?: string }>, private readonly log: Logger) {}

  private target(pool: string): { namespace: string; name: string } {
    const p = this.pools[pool] ?? {};
    return { namespace: p.namespace ?? this.settings.namespace, name: p.deployment ?? `trireme-${pool}` };
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

/** The Kubernetes client's package, an optional peer dependency. */
export const KUBERNETES_CLIENT = '@kubernetes/client-node';
type ClientModule = typeof import('@kubernetes/client-node');

/**
 * Loads the Kubernetes client for the kubernetes driver's `pools` (`load`: tests inject one). When the package is not
 * installed the error names it, the pools that need it and the command that installs it; a module that the client
 * itself cannot find (a broken install) is Node's own error, as it is.
 */
export async function loadKubernetesClient(pools: string[], load: () => Promise<ClientModule> = () => import('@kubernetes/client-node')): Promise<ClientModule> {
  try {
    return await load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && e.message.includes(`'${KUBERNETES_CLIENT}'`);
    if (!missing) throw err;
    const range = manifest().peerDependencies?.[KUBERNETES_CLIENT];
    throw new MissingPackageError(`the kubernetes driver (pool${pools.length === 1 ? '' : 's'} ${pools.join(', ')}) needs the package ${KUBERNETES_CLIENT}, which is not installed (an optional peer dependency of ${PACKAGE_NAME}, left out where no pool runs on Kubernetes). Install it beside ${PACKAGE_NAME}: npm install ${KUBERNETES_CLIENT}${range ? `@${range}` : ''}`);
  }
}

/** The API through @kubernetes/client-node 1.x. */
function clientApi(k8s: ClientModule, settings: KubernetesSettings): KubernetesApi {
  const kc = new k8s.KubeConfig();
  if (settings.kubeconfig) kc.loadFromFile(settings.kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (settings.context) kc.setCurrentContext(settings.context);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  return {
    readScale: (namespace, name) => apps.readNamespacedDeploymentScale({ namespace, name }),
    patchScale: (namespace, name, replicas) => apps.patchNamespacedDeploymentScale({ namespace, name, body: { spec: { replicas } } }, merge),
    listPods: (namespace, labelSelector) => core.listNamespacedPod({ namespace, labelSelector }),
    annotatePod: async (namespace, name, annotations) => { await core.patchNamespacedPod({ namespace, name, body: { metadata: { annotations } } }, merge); },
  };
}

export const kubernetesDriver: DriverKind = {
  scaleIn: 'set-count',
  placement: 'elsewhere',
  pool,
  shared,
  async create(ctx: DriverContext, settings) {
    const s = shared.parse(settings);
    const pools = Object.fromEntries(poolsOn<z.output<typeof pool>>(ctx.project, 'kubernetes'));
    const k8s = await loadKubernetesClient(Object.keys(pools));
    return new KubernetesDriver(clientApi(k8s, s), s, pools, ctx.logger.child({ driver: 'kubernetes' }));
  },
};
