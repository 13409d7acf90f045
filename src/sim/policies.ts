/**
 * The policies a simulation compares: the config's own, and baselines of what teams run today. All but one drive
 * core's `decide` with other settings, poll interval, wake and step; `seed-threshold` runs the replaced system's
 * own rules (sim/seed.ts).
 *  - `seed-threshold`: the three-tier Celery deployment's autoscaler as it ran: poll every 60 s, per-tier depth
 *    thresholds (light > 20, medium > 10, heavy >= 1), a step straight to the depth capped at max, 3 / 5 / 10 minute
 *    waits between operations, heavy shut down after 15 idle minutes, no wake on submit.
 *  - `seed-stepwise`: a harsher variant kept under its own name: +1/-1 replica a poll with the pool's concurrency as
 *    the threshold, a 10-minute cooldown on every tier, idle shutdown 15 min (5 min for pools with min > 0).
 *  - `keda-default`: KEDA's defaults: poll 30 s, cooldownPeriod 300 s, HPA v2 default behaviour on a list-length
 *    target of 5 per replica.
 *  - `static-max`: every pool at its max all the time.
 *  - `fixed-idle`: Trireme's own policy with keep-warm off, so a pool at zero stops after its fixed `idleShutdown`
 *    and starts only when work arrives: the reference for what learned keep-warm saves in cold starts.
 */
import type { Config } from '../core/config.js';
import { standbyGroupOf } from '../drivers/index.js';
import type { PoolSettings } from '../core/autoscaler.js';
import type { SimPolicy } from './engine.js';
import { liveReplicas } from '../core/observation.js';
import { seedDecide, seedTierOf } from './seed.js';

export const BASELINES = ['seed-threshold', 'seed-stepwise', 'keda-default', 'static-max', 'fixed-idle'] as const;

export function ownPolicy(config: Config): SimPolicy {
  return {
    name: 'trireme',
    interval: config.controller.interval,
    wake: true,
    settings: (pool) => ({ ...config.pools[pool].scaling, concurrency: config.pools[pool].concurrency }),
    standby: (pool) => standbyGroupOf(config, pool),
  };
}

export function baseline(name: string, config: Config): SimPolicy {
  const base = (pool: string): PoolSettings => ({ ...config.pools[pool].scaling, concurrency: config.pools[pool].concurrency, schedules: [] });
  switch (name) {
    case 'seed-threshold':
      return {
        name, interval: 60_000, wake: false, settings: base,
        decide: (pool, o, s, memory, now) => seedDecide(pool, seedTierOf(pool, s.min), o, liveReplicas(o.replicas), { min: s.min, max: s.max }, memory, now),
      };
    case 'seed-stepwise':
      return {
        name, interval: 60_000, wake: false, maxStep: 1,
        settings: (pool) => {
          const s = base(pool);
          return { ...s, policy: 'threshold', scaleUpThreshold: s.concurrency, scaleDownThreshold: 0, cooldownUp: 0, cooldownDown: 600_000, stabilization: 0, idleShutdown: s.min > 0 ? 300_000 : 900_000 };
        },
      };
    case 'keda-default':
      return {
        name, interval: 30_000, wake: false,
        settings: (pool) => ({ ...base(pool), policy: 'hpa', hpaTarget: 5, behavior: undefined }),
      };
    case 'fixed-idle': {
      const own = ownPolicy(config);
      return { ...own, name, settings: (pool) => ({ ...own.settings(pool), keepWarm: false }) };
    }
    case 'static-max':
      // Never scales: its bounds are both max, so every pass holds the pool there.
      return { name, interval: 60_000, wake: false, settings: (pool) => ({ ...base(pool), min: base(pool).max }) };
    default:
      throw new Error(`unknown policy "${name}"; use one of: trireme, ${BASELINES.join(', ')}`);
  }
}

/** The cheapest any policy could be: the work itself divided by the slots, no waits, no idle time. */
export function lowerBound(config: Config, work: Map<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(config.pools).map(([name, p]) => [name, (work.get(name) ?? 0) / p.concurrency]));
}
