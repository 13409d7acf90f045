/**
 * The kubernetes driver's registry entry: its settings, how it is built (the client loads only then), and its
 * exporters: the manifests the controller runs from, and KEDA's or the HPA's objects for clusters that keep those.
 */
import type { DriverKind } from '../driver.js';
import { poolsOn } from '../spec.js';
import { KIND, poolSchema, sharedSchema, sharedSettings } from './settings.js';
import { KubernetesDriver } from './driver.js';
import { kubernetesManifests } from './manifests.js';
import { hpaObjects, kedaObjects } from './autoscalers.js';

export const kubernetesDriver: DriverKind = {
  scaleIn: 'set-count',
  placement: 'elsewhere',
  pool: poolSchema,
  shared: sharedSchema,
  async create(ctx) {
    const { loadKubernetesClient, clientApi } = await import('./client.js');
    const k8s = await loadKubernetesClient(poolsOn(ctx.project, KIND));
    const config = ctx.project.config;
    return new KubernetesDriver(clientApi(k8s, sharedSettings(config)), config, ctx.logger.child({ driver: KIND }));
  },
  exports: { kubernetes: kubernetesManifests, keda: kedaObjects, hpa: hpaObjects },
};
