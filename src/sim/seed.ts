/**
 * The autoscaler of the three-tier Celery deployment Trireme replaces, as its description and log show it, for the
 * `seed-threshold` baseline. It is not Trireme's `decide`: it reads the broker's queue depth (jobs waiting, not
 * running) once a minute and, per tier:
 *  - scales up when the depth exceeds 20 (light), exceeds 10 (medium) or reaches 1 (heavy), straight to the depth,
 *    capped at max (its log: `Queue depth 3 exceeds threshold 1, scaling 0 -> 3`);
 *  - scales down when the depth is 0: light and medium one replica an operation, never below min; heavy only once
 *    it has been idle (nothing waiting or running) for 15 minutes, then to min;
 *  - waits 3 (light), 5 (medium) or 10 (heavy) minutes after any operation before the next one.
 * Where its two examples disagree (the log steps 0 -> 3 for a depth of 3, the worked scenario shows 0 -> 2 for a
 * depth of 5), this follows the log, which is what ran. Pools not named light, medium or heavy get the heavy rules
 * when they may scale to zero (min 0), else the medium ones.
 */
import type { AutoscalerMemory, Decision } from '../core/autoscaler.js';
import type { Observation } from '../core/observation.js';

/**
 * `cooldown`: its wait after any operation; `downCooldown`: the wait before a scale-down, after any operation (the
 * cooldown when left out); `idleShutdown`: a tier that scales down only once idle this long (heavy).
 */
export interface SeedTier { name: 'light' | 'medium' | 'heavy'; upWhenAbove: number; cooldown: number; downCooldown?: number; idleShutdown?: number }

export const SEED_TIERS: Record<SeedTier['name'], SeedTier> = {
  light: { name: 'light', upWhenAbove: 20, cooldown: 3 * 60_000 },
  medium: { name: 'medium', upWhenAbove: 10, cooldown: 5 * 60_000 },
  heavy: { name: 'heavy', upWhenAbove: 0, cooldown: 10 * 60_000, idleShutdown: 15 * 60_000 },
};

export function seedTierOf(pool: string, min: number): SeedTier {
  if (pool === 'light' || pool === 'medium' || pool === 'heavy') return SEED_TIERS[pool];
  return min === 0 ? SEED_TIERS.heavy : SEED_TIERS.medium;
}

/** One poll of the seed autoscaler for one pool. `current` counts replicas up or starting. */
export function seedDecide(pool: string, tier: SeedTier, o: Observation, current: number, bounds: { min: number; max: number }, mem: AutoscalerMemory, now: number): Decision {
  const depth = o.waiting;
  const busy = o.waiting + o.running > 0;
  const lastBusyAt = busy ? now : (mem.lastBusyAt ?? now);
  const lastOp = Math.max(mem.lastUpAt ?? -Infinity, mem.lastDownAt ?? -Infinity);
  const out = (desired: number, why: string, operation = true): Decision => {
    const direction = desired > current ? 'up' : desired < current ? 'down' : 'hold';
    const op = operation ? (direction === 'up' ? { lastUpAt: now } : direction === 'down' ? { lastDownAt: now } : {}) : {};
    const memory = { ...mem, lastBusyAt, ...op };
    return { desired, current, direction, why, reason: `${pool}: ${why}, ${current} -> ${desired}`, memory, min: bounds.min, max: bounds.max, cooldownRemaining: Math.max(0, lastOp + tier.cooldown - now), need: desired };
  };
  // Its workers' own start (the service's replicas at min) is no scaling operation: no wait follows it.
  if (current < bounds.min) return out(bounds.min, `below min ${bounds.min}`, false);
  const cooling = now - lastOp < tier.cooldown;
  if (depth > tier.upWhenAbove) {
    const want = Math.min(bounds.max, depth);
    if (want <= current) return out(current, `queue depth ${depth} exceeds threshold ${tier.upWhenAbove || 1}, at ${current}`);
    if (cooling) return out(current, `queue depth ${depth} exceeds threshold ${tier.upWhenAbove || 1}, cooldown`);
    return out(want, `Queue depth ${depth} exceeds threshold ${tier.upWhenAbove || 1}, scaling`);
  }
  if (depth === 0 && current > bounds.min && now - lastOp >= (tier.downCooldown ?? tier.cooldown)) {
    if (tier.idleShutdown !== undefined) {
      return now - lastBusyAt >= tier.idleShutdown ? out(bounds.min, `idle ${Math.round((now - lastBusyAt) / 60_000)} min: shutting down`) : out(current, 'queue empty, not idle long enough');
    }
    return out(current - 1, 'queue empty, scaling down');
  }
  return out(current, `queue depth ${depth}`);
}
