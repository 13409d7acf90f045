/**
 * The Kubernetes driver's settings, typed once for the driver and its exporters, and the one rule of where a pool's
 * Deployment is. The driver and the manifests must agree on it: a controller run from `trireme export kubernetes`'s
 * manifests, with the config they carry, has to look where the export put the Deployments.
 *
 * A pool's Deployment is `pools.P.driver.deployment`, else `trireme-<pool>`, in `pools.P.driver.namespace`, else
 * `drivers.kubernetes.namespace`, else a home namespace:
 *  - the controller's home (controllerNamespace) is, in a pod, the namespace that pod runs in (the exported
 *    controller runs beside its Deployments), else `default`;
 *  - the export's home (exportNamespace) is `--namespace`, else `drivers.kubernetes.namespace`, else `trireme`; an
 *    export the controller could not follow (another `--namespace` than the config's) is refused.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Config } from '../../core/config.js';
import { ExportError } from '../export.js';

export const KIND = 'kubernetes';

export const sharedSchema = z.strictObject({
  /** The namespace of the pools' Deployments; default: the controller's own in a pod, else `default`. */
  namespace: z.string().min(1).optional(),
  /** A kubeconfig file; default: in-cluster when running in a pod, else ~/.kube/config (or KUBECONFIG). */
  kubeconfig: z.string().optional(),
  /** A context of the kubeconfig other than its current one. */
  context: z.string().optional(),
});
export const poolSchema = z.strictObject({
  /** The pool's Deployment; default trireme-<pool>. */
  deployment: z.string().min(1).optional(),
  /** The Deployment's namespace; default: drivers.kubernetes.namespace. */
  namespace: z.string().min(1).optional(),
});

export type KubernetesSettings = z.output<typeof sharedSchema>;
export type KubernetesPoolSettings = z.output<typeof poolSchema>;

/** `drivers.kubernetes` as the config holds it (validated by the config parser); none given: none set. */
export function sharedSettings(config: Config): KubernetesSettings {
  return (config.drivers[KIND] as KubernetesSettings | undefined) ?? sharedSchema.parse({});
}

/** A pool's own settings for this driver; none for a pool on another driver (the export writes every pool). */
export function poolSettings(config: Config, pool: string): KubernetesPoolSettings {
  const d = config.pools[pool].driver;
  return d.kind === KIND ? (d.settings as KubernetesPoolSettings) : {};
}

export interface DeploymentRef { namespace: string; name: string }

/** Where pool `pool`'s Deployment is, every default applied; `home`: the namespace for a config that names none. */
export function deploymentOf(config: Config, pool: string, home: string): DeploymentRef {
  const own = poolSettings(config, pool);
  return { namespace: own.namespace ?? sharedSettings(config).namespace ?? home, name: own.deployment ?? `trireme-${pool}` };
}

/** Where the service account's namespace is mounted in every pod that has one. */
export const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** What the controller reads of where it runs (tests give their own). */
export interface Surroundings {
  env?: Record<string, string | undefined>;
  /** The file holding the pod's namespace; default SERVICE_ACCOUNT_NAMESPACE. */
  namespaceFile?: string;
}

/** Whether the client talks to the cluster it runs in: no kubeconfig named, and in a pod (the client's own test). */
export function inCluster(settings: KubernetesSettings, env: Record<string, string | undefined> = process.env): boolean {
  return !settings.kubeconfig && !!env.KUBERNETES_SERVICE_HOST;
}

/** The controller's home namespace: its own pod's when it runs in the cluster it drives, else `default`. */
export function controllerNamespace(settings: KubernetesSettings, where: Surroundings = {}): string {
  if (!inCluster(settings, where.env)) return 'default';
  try {
    return readFileSync(where.namespaceFile ?? SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || 'default';
  } catch {
    // A pod without a service account token mounted: the client cannot authenticate either, and says so.
    return 'default';
  }
}

/** The namespace an export writes into when neither `--namespace` nor the config names one. */
export const EXPORT_NAMESPACE = 'trireme';

/**
 * The namespace the Kubernetes exports write into: `flag` (--namespace), else `drivers.kubernetes.namespace`, else
 * `trireme`. The exported controller reads the config, so a `--namespace` other than the config's is refused: its
 * Deployments would be where the controller never looks.
 */
export function exportNamespace(config: Config, flag?: string): string {
  const named = sharedSettings(config).namespace;
  if (flag !== undefined && named !== undefined && flag !== named) {
    throw new ExportError(`--namespace ${flag}, but drivers.kubernetes.namespace is "${named}": the controller reads the config and would look for the pools' Deployments in ${named}. Drop --namespace, or set drivers.kubernetes.namespace to ${flag} (or remove it: a controller in a pod then uses its pod's namespace)`);
  }
  return flag ?? named ?? EXPORT_NAMESPACE;
}
