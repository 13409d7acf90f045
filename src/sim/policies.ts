/**
 * The policies a simulation compares: the config's own, and baselines of what teams run today. All but two drive
 * core's `decide` with other settings, poll interval, wake and step; `seed-threshold` runs the replaced system's
 * own rules (sim/seed.ts) and `keda-default` KEDA's zero-to-one rule around the HPA (sim/keda.ts).
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
 *
 * Each policy but static-max has a knob, the setting its users turn to trade replica-seconds for cold starts and
 * waits (`knobOf`): a cost curve is the policy run at many values of it (sim/sweep.ts). With `timers: 'config'` a
 * baseline's own settings are the config's timers where it has a matching one (KEDA's cooldownPeriod is the pool's
 * idleShutdown; the seeds' waits before a scale-down are its cooldownDown and idleShutdown), so that a config that
 * asks for long timers is compared with baselines run the same way.
 */
import type { Config } from '../core/config.js';
import { standbyGroupOf } from '../drivers/index.js';
import type { PoolSettings } from '../core/autoscaler.js';
import type { SimPolicy } from './engine.js';
import { liveReplicas } from '../core/observation.js';
import { formatDuration } from '../core/units.js';
import { seedDecide, seedTierOf, type SeedTier } from './seed.js';
import { kedaDecide, KEDA_COOLDOWN_PERIOD } from './keda.js';

export const BASELINES = ['seed-threshold', 'seed-stepwise', 'keda-default', 'static-max', 'fixed-idle'] as const;
export const POLICIES = ['trireme', ...BASELINES] as const;

/** Where baselines take their timers from: their own defaults, or the config's where they have a matching one. */
export type BaselineTimers = 'own' | 'config';

export interface BaselineOptions { timers?: BaselineTimers }

/** Per pool, ms: one value for every pool, or each pool its own. */
type PerPool = (pool: string) => number;

export function ownPolicy(config: Config, idleShutdown?: PerPool): SimPolicy {
  return {
    name: 'trireme',
    interval: config.controller.interval,
    wake: true,
    settings: (pool) => ({ ...config.pools[pool].scaling, concurrency: config.pools[pool].concurrency, ...(idleShutdown ? { idleShutdown: idleShutdown(pool) } : {}) }),
    standby: (pool) => standbyGroupOf(config, pool),
  };
}

const scalingOf = (config: Config, pool: string) => config.pools[pool].scaling;

/** A baseline's wait before a scale-down, per pool, as it runs by default (its own, or the config's timers). */
function ownWait(name: string, config: Config, timers: BaselineTimers): PerPool {
  const s = (pool: string) => scalingOf(config, pool);
  switch (name) {
    case 'seed-threshold':
      return (pool) => {
        const tier = seedTierOf(pool, s(pool).min);
        if (timers === 'config') return tier.idleShutdown !== undefined ? s(pool).idleShutdown : s(pool).cooldownDown;
        return tier.idleShutdown ?? tier.cooldown;
      };
    case 'seed-stepwise':
      return (pool) => (timers === 'config' ? s(pool).idleShutdown : s(pool).min > 0 ? 300_000 : 900_000);
    case 'keda-default':
      return (pool) => (timers === 'config' ? s(pool).idleShutdown : KEDA_COOLDOWN_PERIOD);
    default:
      return (pool) => s(pool).idleShutdown;
  }
}

function build(name: string, config: Config, wait: PerPool | undefined, timers: BaselineTimers): SimPolicy {
  const base = (pool: string): PoolSettings => ({ ...config.pools[pool].scaling, concurrency: config.pools[pool].concurrency, schedules: [] });
  switch (name) {
    case 'trireme':
      return ownPolicy(config, wait);
    case 'seed-threshold': {
      const tier = (pool: string, min: number): SeedTier => {
        const t = seedTierOf(pool, min);
        if (!wait && timers === 'own') return t;
        const w = (wait ?? ownWait(name, config, timers))(pool);
        // The knob is its wait before a scale-down: the idle time of a tier that shuts down when idle (heavy), the
        // wait after an operation of the others. Its wait after an operation before a scale-up stays its own.
        return { ...t, downCooldown: t.idleShutdown !== undefined ? Math.min(t.cooldown, w) : w, idleShutdown: t.idleShutdown !== undefined ? w : undefined };
      };
      return {
        name, interval: 60_000, wake: false, settings: base,
        decide: (pool, o, s, memory, now) => seedDecide(pool, tier(pool, s.min), o, liveReplicas(o.replicas), { min: s.min, max: s.max }, memory, now),
      };
    }
    case 'seed-stepwise': {
      const w = wait ?? ownWait(name, config, timers);
      return {
        name, interval: 60_000, wake: false, maxStep: 1,
        settings: (pool) => {
          const s = base(pool);
          // Its scale-downs come only when the pool is idle: the knob is both its cooldown and its idle shutdown.
          const down = wait ? w(pool) : timers === 'config' ? s.cooldownDown : 600_000;
          return { ...s, policy: 'threshold', scaleUpThreshold: s.concurrency, scaleDownThreshold: 0, cooldownUp: 0, cooldownDown: down, stabilization: 0, idleShutdown: w(pool) };
        },
      };
    }
    case 'keda-default':
      return {
        name, interval: 30_000, wake: false,
        settings: (pool) => ({ ...base(pool), policy: 'hpa', hpaTarget: 5, behavior: undefined }),
        decide: kedaDecide(wait ?? ownWait(name, config, timers)),
      };
    case 'fixed-idle': {
      const own = ownPolicy(config, wait);
      return { ...own, name, settings: (pool) => ({ ...own.settings(pool), keepWarm: false }) };
    }
    case 'static-max':
      // Never scales: its bounds are both max, so every pass holds the pool there.
      return { name, interval: 60_000, wake: false, settings: (pool) => ({ ...base(pool), min: base(pool).max }) };
    default:
      throw new Error(`unknown policy "${name}"; use one of: ${POLICIES.join(', ')}`);
  }
}

export function baseline(name: string, config: Config, opts: BaselineOptions = {}): SimPolicy {
  if (name === 'trireme') throw new Error('trireme is the config\'s own policy (ownPolicy), not a baseline');
  return build(name, config, undefined, opts.timers ?? 'own');
}

/** Trireme's own policy or a baseline, by name. */
export function policyFor(name: string, config: Config, opts: BaselineOptions = {}): SimPolicy {
  return name === 'trireme' ? ownPolicy(config) : baseline(name, config, opts);
}

/** The setting a policy's cost curve varies. */
export interface Knob {
  policy: string;
  /** Its name as its users know it (idleShutdown, cooldownPeriod, downCooldown). */
  name: string;
  /** What it is. */
  about: string;
  /** The value each pool runs with by default (ms). */
  own: PerPool;
  /** The policy with every pool at this value (ms). */
  at(value: number): SimPolicy;
}

const KNOBS: Record<string, { name: string; about: string }> = {
  trireme: { name: 'idleShutdown', about: 'idle shutdown, learned keep-warm on (pools at min 0)' },
  'fixed-idle': { name: 'idleShutdown', about: 'idle shutdown, keep-warm off' },
  'keda-default': { name: 'cooldownPeriod', about: "KEDA's cooldownPeriod (1 -> 0 after the trigger is inactive this long)" },
  'seed-threshold': { name: 'downCooldown', about: 'the wait before a scale-down (idle time for the heavy tier, after an operation for the others)' },
  'seed-stepwise': { name: 'idleShutdown', about: 'idle shutdown and down-cooldown' },
};

/** The knob of a policy, or undefined for one without (static-max). */
export function knobOf(policy: string, config: Config, opts: BaselineOptions = {}): Knob | undefined {
  const k = KNOBS[policy];
  if (!k) { build(policy, config, undefined, 'own'); return undefined; }
  const timers = opts.timers ?? 'own';
  return { policy, ...k, own: ownWait(policy, config, policy === 'trireme' || policy === 'fixed-idle' ? 'config' : timers), at: (value) => build(policy, config, () => value, timers) };
}

/** A knob's value as a setting label: `{ idleShutdown: "20s" }`. */
export const settingOf = (knob: string, value: number): Record<string, string> => ({ [knob]: formatDuration(value) });

/** The cheapest any policy could be: the work itself divided by the slots, no waits, no idle time. */
export function lowerBound(config: Config, work: Map<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(config.pools).map(([name, p]) => [name, (work.get(name) ?? 0) / p.concurrency]));
}
