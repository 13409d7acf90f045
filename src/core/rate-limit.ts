/**
 * Rate limits per queue (`rateLimits:` in the config): at most `jobs` jobs start per `per`, across every replica on
 * every host, enforced by BullMQ's worker limiter (one counter per queue in Redis). What the autoscaler makes of it
 * lives here too: a pool whose queues are all rate-limited cannot drain faster than the sum of their limits, so
 * replicas beyond what that rate keeps busy would only wait on the limiter.
 *
 * By Little's law, jobs in service at the limit are rate x service time: that many slots keep up, and
 * ceil(rate x service time / concurrency) replicas hold them. Until the service time is measured, the pool holds at
 * what it has (one replica from zero): growing blind would start replicas the limit may leave idle.
 */
import { z } from 'zod';
import { parseDuration } from './units.js';

export const rateLimitSchema = z.strictObject({
  /** Jobs that may start in each `per`. */
  jobs: z.number().int().min(1, 'at least 1 job'),
  /** The window the count is over (`1s`, `1m`). */
  per: z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      const ms = parseDuration(v);
      if (ms < 1) ctx.addIssue({ code: 'custom', message: 'must be at least 1ms' });
      return ms;
    } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
  }),
});

export type RateLimit = z.output<typeof rateLimitSchema>;

/** Jobs per second a limit allows. */
export const perSecond = (l: RateLimit): number => (l.jobs * 1000) / l.per;

/** A rate for people: "10/s", "0.5/s", "120/min" is shown as "2/s". */
export const formatRate = (perSec: number): string => `${+perSec.toFixed(perSec >= 10 ? 0 : 2)}/s`;

/** A limit as written: "10 per 1s". */
export const describeLimit = (l: RateLimit): string => `${l.jobs} per ${l.per % 1000 === 0 ? `${l.per / 1000}s` : `${l.per}ms`}`;

/**
 * The most jobs per second a pool can start when every one of its queues is rate-limited (the sum of their limits);
 * undefined when any queue is not, since that queue can use every replica.
 */
export function poolRateLimit(queues: string[], limits: Record<string, RateLimit>): number | undefined {
  let sum = 0;
  for (const q of queues) {
    const l = Object.hasOwn(limits, q) ? limits[q] : undefined;
    if (!l) return undefined;
    sum += perSecond(l);
  }
  return queues.length ? sum : undefined;
}

/**
 * The replicas a rate-limited pool can keep busy, and why: `desired` capped there when the policy asks for more.
 * `serviceTime` in seconds (0 when not measured yet); `current` the live replicas.
 */
export function capByRate(desired: number, limit: number, serviceTime: number, concurrency: number, current: number): { desired: number; why?: string } {
  const rate = formatRate(limit);
  if (serviceTime <= 0) {
    const hold = Math.max(current, 1);
    return desired > hold ? { desired: hold, why: `rate-limited to ${rate}: service time not measured yet, ${hold} replica(s) until it is` } : { desired };
  }
  // A twentieth of a slot of slack, as the flow rule has: 2.02 slots' worth is 2 replicas, not 3.
  const cap = Math.max(1, Math.ceil((limit * serviceTime) / concurrency - 0.05));
  if (desired <= cap) return { desired };
  return { desired: cap, why: `rate-limited to ${rate}: ${cap} replica(s) can keep up (${serviceTime.toFixed(2)}s a job, ${concurrency}/replica)` };
}
