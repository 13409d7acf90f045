/**
 * The Kubernetes client: @kubernetes/client-node, loaded when the driver is built (in-cluster config, a kubeconfig,
 * or the default ~/.kube/config), and adapted to the slice of the API the driver uses. It is an optional peer
 * dependency of the package: a project without Kubernetes pools does not install it (about 70 MB), and one that has
 * them is told to when it is missing. Nothing here imports it at load time, so the registry stays light.
 */
import { MissingPackageError } from '../../core/errors.js';
import { manifest, PACKAGE_NAME } from '../../system/paths.js';
import type { KubernetesApi } from './driver.js';
import { inCluster, type KubernetesSettings } from './settings.js';

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
export function clientApi(k8s: ClientModule, settings: KubernetesSettings): KubernetesApi {
  const kc = new k8s.KubeConfig();
  if (settings.kubeconfig) kc.loadFromFile(settings.kubeconfig);
  // The same test as the controller's home namespace (settings.ts), so that both mean the same cluster.
  else if (inCluster(settings)) kc.loadFromCluster();
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
