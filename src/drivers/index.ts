/**
 * The driver registry: a pool names its driver's kind in the config (`driver: kubernetes`), and `serve` builds one
 * driver per kind from here, and the export registry (exports/index.ts) takes each driver's exporters from here. Adding a driver is one file (its settings
 * schemas and the class), or one folder when it exports deployment files (settings.ts, the driver, its exporters, and
 * index.ts with its entry), and one line below. Importing this module loads no engine client: each driver loads its
 * own when it is built.
 */
import type { Config, DriverSchemas, PoolConfig } from '../core/config.js';
import type { PoolSpec } from '../core/plan.js';
import { poolRateLimit } from '../core/rate-limit.js';
import type { Driver, DriverContext, DriverKind } from './driver.js';
import { localDriver } from './local.js';
import { kubernetesDriver } from './kubernetes/index.js';
import { composeDriver } from './compose/index.js';
import { systemdDriver } from './systemd/index.js';

export const DRIVERS: Record<string, DriverKind> = {
  local: localDriver,
  kubernetes: kubernetesDriver,
  compose: composeDriver,
  systemd: systemdDriver,
};

/** The settings schemas of every driver, for the config parser. */
export function driverSchemas(): DriverSchemas {
  return Object.fromEntries(Object.entries(DRIVERS).map(([kind, d]) => [kind, { pool: d.pool, shared: d.shared }]));
}

/** Builds one driver per kind the config's pools use; returns each pool's. */
export async function buildDrivers(ctx: Omit<DriverContext, 'pools'>): Promise<Record<string, Driver>> {
  const cfg = ctx.project.config;
  const byKind = new Map<string, Promise<Driver>>();
  const out: Record<string, Driver> = {};
  for (const [pool, p] of Object.entries(cfg.pools)) {
    const kind = p.driver.kind;
    const pools = Object.keys(cfg.pools).filter((name) => cfg.pools[name].driver.kind === kind);
    if (!byKind.has(kind)) byKind.set(kind, DRIVERS[kind].create({ ...ctx, pools }));
    out[pool] = await byKind.get(kind)!;
  }
  return out;
}

/**
 * What the planning pass knows of every pool: its resolved settings, priority and resources, and its driver's traits
 * (how it scales in, whether its replicas share this host). `with` adds or replaces per-pool fields (the simulator's
 * policies give their own settings).
 */
export function poolSpecs(config: Config, with_: (pool: string) => Partial<PoolSpec> = () => ({})): Record<string, PoolSpec> {
  return Object.fromEntries(Object.entries(config.pools).map(([name, p]) => {
    const kind = DRIVERS[p.driver.kind];
    const rateLimit = poolRateLimit(p.queues, config.rateLimits ?? {});
    const spec: PoolSpec = {
      settings: { ...p.scaling, concurrency: p.concurrency, ...(rateLimit !== undefined ? { rateLimit } : {}) },
      priority: p.priority, resources: p.resources, drainGrace: p.drainGrace,
      scaleIn: kind.scaleIn, onHost: kind.placement === 'this-host',
    };
    return [name, { ...spec, ...stripUndefined(with_(name)) }];
  }));
}

const stripUndefined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Where a pool's replicas run, by its driver's placement: `this-host` ones share this machine's capacity. */
export const placementOf = (p: PoolConfig): DriverKind['placement'] => DRIVERS[p.driver.kind].placement;

/** The standby group a pool's replicas start from, where its driver keeps standbys (the local driver's). */
export const standbyGroupOf = (config: Config, pool: string): string | undefined => DRIVERS[config.pools[pool].driver.kind].standbyGroup?.(config, pool);
