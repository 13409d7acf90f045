/**
 * KEDA's scaling of a ScaledObject on a list-length trigger, for the `keda-default` baseline. KEDA itself decides
 * only between zero and one: a pool whose trigger has been inactive (no job waiting or running) for `cooldownPeriod`
 * since it was last active goes to zero, and an inactive pool at zero stays there; from one replica up, the
 * Kubernetes HPA it creates decides (core's `hpa` policy, with `minReplicas` at least 1), with its own default
 * behaviour (a 300 s scale-down stabilisation window). KEDA's defaults: poll every 30 s, cooldownPeriod 300 s.
 */
import { decide, overrideDecision } from '../core/autoscaler.js';
import { liveReplicas, load } from '../core/observation.js';
import { formatDuration } from '../core/units.js';
import type { DecideFn } from '../core/plan.js';

export const KEDA_COOLDOWN_PERIOD = 300_000;

export function kedaDecide(cooldownPeriodOf: (pool: string) => number): DecideFn {
  return (pool, o, s, memory, now) => {
    const active = load(o) > 0;
    const current = liveReplicas(o.replicas);
    // The HPA never goes below one replica; `decide` also keeps the pool's last-active time (lastBusyAt).
    const d = decide(pool, o, { ...s, policy: 'hpa', min: Math.max(1, s.min) }, memory, now);
    if (s.min > 0 || active) return d;
    const inactiveFor = now - (memory.lastBusyAt ?? now);
    const cooldownPeriod = cooldownPeriodOf(pool);
    if (current === 0) return overrideDecision(pool, d, 0, 'trigger inactive: stays at zero');
    if (inactiveFor >= cooldownPeriod) return overrideDecision(pool, d, 0, `trigger inactive for ${formatDuration(inactiveFor)} >= cooldownPeriod ${formatDuration(cooldownPeriod)}: to zero`);
    return d;
  };
}
