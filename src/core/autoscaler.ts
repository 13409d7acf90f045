/**
 * The autoscaler: `decide(observation, settings, memory, now)` for one pool, pure and clocked, so the controller, the
 * simulator and the tests run the same code. Around the pool's policy it applies, in order: stale-metrics hold,
 * schedules and min/max, cooldowns, the scale-down stabilisation window and idle shutdown (a pool with no work keeps
 * its replicas until it has been idle for `idleShutdown`, then goes to min, zero included).
 */
import type { ResolvedScaling } from './config.js';
import { liveReplicas, load, type Observation } from './observation.js';
import { threshold } from './policies/threshold.js';
import { target } from './policies/target.js';
import { emptyHpaMemory, hpa, type HpaMemory } from './policies/hpa.js';
import { bounds } from './schedule.js';
import { formatDuration } from './units.js';
import { advise, elapsed, emptyGaps, observeLoad, observeWant, pattern, warmWindow, WINDOW, type IdleGaps } from './keepwarm.js';
import { capByRate } from './rate-limit.js';

export interface PoolSettings extends ResolvedScaling {
  concurrency: number;
  /** Jobs per second the pool can start at most, when every one of its queues is rate-limited (rate-limit.ts). */
  rateLimit?: number;
}

export interface AutoscalerMemory {
  lastUpAt?: number;
  lastDownAt?: number;
  /** Last time the pool had any load; idle shutdown counts from here. */
  lastBusyAt?: number;
  recommendations: { at: number; value: number }[];
  hpa: HpaMemory;
  /** The idle gaps between bursts that keep-warm learns from (keepwarm.ts). */
  idle?: IdleGaps;
  /** How long the pool had been idle when it last scaled down (the flap window is startupTime plus this). */
  downIdle?: number;
  /** When the pool flapped (a scale-up soon after a scale-down), within the last hour. */
  flaps?: number[];
}

const HOUR = 3_600_000;
/** Flaps in the last hour before the guard backs off: each one more doubles the hold, up to 8x. */
const FLAPS_BEFORE_BACKOFF = 3;

export interface Decision {
  desired: number;
  current: number;
  direction: 'up' | 'down' | 'hold';
  reason: string;
  memory: AutoscalerMemory;
  min: number;
  max: number;
  /** Milliseconds until a cooldown stops holding the pool, when one does. */
  cooldownRemaining: number;
  /** The explanation inside `reason`, without the pool name and the `from -> to` part. */
  why: string;
  /** Flaps in the last hour: scale-ups that came within startupTime (plus the idle time that led to the stop) of a scale-down. */
  flapsLastHour?: number;
  /**
   * What the load alone asks for. Below `desired` when a hold (down-cooldown, idle timer, stabilisation) keeps
   * replicas the load does not need: host capacity or the budget may take those back for another pool's need.
   */
  need: number;
  /** What the policy asked for before min and max (a rate limit applied), when it decided: above `max`, the pool is at its max. */
  wanted?: number;
}

const directionOf = (current: number, desired: number): Decision['direction'] =>
  (desired > current ? 'up' : desired < current ? 'down' : 'hold');

/**
 * The same decision with another count and explanation (a manual pin, a capacity cap), its direction and reason
 * rebuilt the way `decide` builds them.
 */
export function overrideDecision(pool: string, d: Decision, desired: number, why: string, need = desired): Decision {
  return { ...d, desired, need, why, direction: directionOf(d.current, desired), reason: `${pool}: ${why}, ${d.current} -> ${desired}` };
}

export const emptyMemory = (): AutoscalerMemory => ({ recommendations: [], hpa: emptyHpaMemory(), idle: emptyGaps() });

/**
 * What a pool's autoscaler has learned and a new leader should go on from: keep-warm's idle gaps and the flap
 * guard's record. Cooldowns and idle timers are not carried over: a new leader starts them afresh, which only holds
 * a pool longer.
 */
export type LearnedMemory = Pick<AutoscalerMemory, 'idle' | 'flaps' | 'lastDownAt' | 'downIdle'>;

export function learnedOf(m: AutoscalerMemory): LearnedMemory {
  return { idle: m.idle, flaps: m.flaps, lastDownAt: m.lastDownAt, downIdle: m.downIdle };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optionalFinite = (v: unknown) => (finite(v) ? v : undefined);
const finiteList = (v: unknown): number[] | undefined => (Array.isArray(v) && v.every(finite) ? v.slice(-WINDOW) : undefined);

/** `m` with what was learned elsewhere (read back from storage, so checked field by field: anything odd is dropped). */
export function withLearned(m: AutoscalerMemory, learned: unknown): AutoscalerMemory {
  if (typeof learned !== 'object' || learned === null) return m;
  const l = learned as Record<string, unknown>;
  const idle = l.idle as Record<string, unknown> | undefined;
  const gaps = finiteList(idle?.gaps);
  const flaps = Array.isArray(l.flaps) && l.flaps.every(finite) ? l.flaps : undefined;
  return {
    ...m,
    ...(gaps ? {
      idle: {
        gaps, idleSince: optionalFinite(idle!.idleSince), lastLoadAt: optionalFinite(idle!.lastLoadAt), periods: finiteList(idle!.periods),
        burstAt: optionalFinite(idle!.burstAt), sizes: finiteList(idle!.sizes), peak: optionalFinite(idle!.peak),
      },
    } : {}),
    ...(flaps ? { flaps } : {}),
    ...(finite(l.lastDownAt) ? { lastDownAt: l.lastDownAt, downIdle: optionalFinite(l.downIdle) } : {}),
  };
}

export function decide(pool: string, o: Observation, s: PoolSettings, mem: AutoscalerMemory, now: number): Decision {
  const current = liveReplicas(o.replicas);
  const b = bounds(s.min, s.max, s.schedules, now);
  const l = load(o);
  const lastBusyAt = l > 0 ? now : (mem.lastBusyAt ?? now);
  // Keep-warm learns from fresh observations only: a Redis outage is not an idle spell.
  let gaps = o.fresh ? observeLoad(mem.idle ?? emptyGaps(), l, now) : (mem.idle ?? emptyGaps());
  const keepWarm = b.min === 0 && s.policy !== 'hpa' && (s.keepWarm ?? true) ? pattern(gaps) : undefined;
  // Where it keeps warm: the whole window of the pattern, or its end when the whole would cost too much.
  const window = keepWarm && warmWindow(keepWarm, s.idleShutdown, s.startupTime);
  const where = b.window ? ` (schedule ${b.window}: ${b.min}-${b.max})` : '';
  const recentFlaps = (mem.flaps ?? []).filter((t) => t > now - HOUR);
  // The flap guard: a pool that keeps going idle-to-min only to start again soon after holds its idle replicas longer
  // (idle shutdown x2 from the third flap in an hour, x4 from the fourth), whatever the user's timers say. Scale-downs
  // under load keep their cooldown: holding a busy pool higher costs replica-seconds without saving cold starts.
  const backoff = recentFlaps.length >= FLAPS_BEFORE_BACKOFF ? 2 ** Math.min(2, recentFlaps.length - FLAPS_BEFORE_BACKOFF + 1) : 1;
  const guard = backoff > 1 ? `; flap guard: ${recentFlaps.length} flaps in the last hour, holding ${backoff}x longer` : '';
  const idleShutdown = s.idleShutdown * backoff;
  /** The policy's figure before min and max, once it is known (see Decision.wanted). */
  let wanted: number | undefined;
  const out = (desired: number, why: string, memory: AutoscalerMemory, cooldownRemaining = 0, need = desired): Decision => {
    const direction = directionOf(current, desired);
    const next: AutoscalerMemory = { ...memory, lastBusyAt, idle: gaps, flaps: recentFlaps };
    if (direction === 'up') {
      next.lastUpAt = now;
      if (mem.lastDownAt !== undefined && now - mem.lastDownAt < s.startupTime + (mem.downIdle ?? 0)) next.flaps = [...recentFlaps, now];
    }
    if (direction === 'down') { next.lastDownAt = now; next.downIdle = l === 0 ? now - lastBusyAt : 0; }
    const full = `${why}${where}`;
    return {
      desired, current, direction, why: full, reason: `${pool}: ${full}, ${current} -> ${desired}`, memory: next, min: b.min, max: b.max,
      cooldownRemaining, need: Math.min(need, desired), flapsLastHour: next.flaps!.length, ...(wanted !== undefined ? { wanted } : {}),
    };
  };
  const clamp = (n: number) => Math.min(b.max, Math.max(b.min, n));
  // A rate-limited pool drains no faster than its limit: replicas beyond what that rate keeps busy would only wait.
  const limited = (r: { desired: number; reason: string }) => {
    if (s.rateLimit === undefined) return r;
    const c = capByRate(r.desired, s.rateLimit, o.serviceTime, s.concurrency, current);
    return c.why ? { desired: c.desired, reason: `${r.reason}; ${c.why}` } : r;
  };

  if (!o.fresh) {
    // Missing metrics must never shrink a pool; only the configured bounds may move it.
    return out(clamp(current), 'metrics stale: hold', mem);
  }

  if (s.policy === 'hpa') {
    const r = hpa(o, { hpaTarget: s.hpaTarget, behavior: s.behavior, min: b.min, max: b.max }, current, mem.hpa, now);
    const l = limited(r);
    // hpa bounds its own figure: what the load asked for is its raw recommendation (rate limit applied).
    wanted = l.desired < r.desired ? l.desired : Math.max(r.desired, r.raw);
    return out(clamp(l.desired), l.reason, { ...mem, hpa: r.memory });
  }

  const rec = limited(s.policy === 'threshold'
    ? threshold(o, { scaleUpThreshold: s.scaleUpThreshold, scaleDownThreshold: s.scaleDownThreshold, concurrency: s.concurrency }, current)
    : target(o, { concurrency: s.concurrency, targetBacklogPerSlot: s.targetBacklogPerSlot, targetWait: s.targetWait }));
  wanted = rec.desired;
  const want = clamp(rec.desired);
  if (want !== rec.desired) rec.reason += want > rec.desired ? `, min ${b.min}` : `, max ${b.max}`;
  // How big this burst is: keep-warm pre-warms what the bursts have needed.
  gaps = observeWant(gaps, l, want);
  const recommendations = [...mem.recommendations.filter((r) => r.at > now - s.stabilization), { at: now, value: want }];
  const memory = { ...mem, recommendations };

  if (want > current) {
    const since = now - (mem.lastDownAt ?? mem.lastUpAt ?? -Infinity);
    // A pool at zero with work always starts: a cooldown must not leave jobs with nobody to run them.
    if (current > 0 && since < s.cooldownUp) {
      return out(current, `${rec.reason}, up-cooldown ${formatDuration(s.cooldownUp - since)} left`, memory, s.cooldownUp - since);
    }
    return out(want, rec.reason, memory);
  }
  if (want < current) {
    // Above max (a host that came back with its replicas, a lowered max, a schedule's window closing): max is a
    // bound, not a wish; cooldowns, stabilisation and idle shutdown may hold a pool at max, never above it.
    // A hold keeps replicas the load does not need (`need` is the load's own figure): capacity may take them back.
    const hold = (why: string, remaining = 0) => (current > b.max
      ? out(b.max, `${current} above max ${b.max}: to max`, memory, 0, want)
      : out(current, why, memory, remaining, want));
    const since = now - Math.max(mem.lastUpAt ?? -Infinity, mem.lastDownAt ?? -Infinity);
    if (since < s.cooldownDown) {
      return hold(`${rec.reason}, down-cooldown ${formatDuration(s.cooldownDown - since)} left`, s.cooldownDown - since);
    }
    if (l === 0) {
      const idle = now - lastBusyAt;
      if (keepWarm) {
        const a = advise(keepWarm, window!, elapsed(keepWarm, gaps, now), current, s.startupTime);
        if (a.action === 'hold') return hold(a.why);
        if (a.action === 'prewarm') return out(Math.min(b.max, Math.max(keepWarm.size, b.min)), a.why, memory, 0, 0);
        return out(b.min, a.why, memory);
      }
      // Whole seconds, rounded down, so that 1.6 s of idle reads "1s < 2s", never "2s < 2s".
      const shown = formatDuration(idle < 1000 ? idle : Math.floor(idle / 1000) * 1000);
      if (idle < idleShutdown) {
        return hold(`idle ${shown} < ${formatDuration(idleShutdown)}: hold${guard}`, idleShutdown - idle);
      }
      return out(b.min, `idle ${shown} >= ${formatDuration(idleShutdown)}: to min${guard}`, memory);
    }
    const floor = Math.min(b.max, Math.max(...recommendations.map((r) => r.value)));
    if (floor > want) {
      if (floor >= current) return hold(`${rec.reason}, stabilised at ${floor} (window ${formatDuration(s.stabilization)})`);
      return out(floor, `${rec.reason}, stabilised at ${floor} (window ${formatDuration(s.stabilization)})`, memory, 0, want);
    }
    return out(want, rec.reason, memory);
  }
  if (keepWarm && current === 0 && l === 0) {
    // At zero between bursts: start one replica just before the next is due (speculative: need stays 0, so host
    // capacity or the budget may refuse it for another pool's real work).
    const a = advise(keepWarm, window!, elapsed(keepWarm, gaps, now), 0, s.startupTime);
    if (a.action === 'prewarm') return out(Math.min(b.max, Math.max(keepWarm.size, b.min)), a.why, memory, 0, 0);
    return out(0, a.why, memory);
  }
  return out(current, rec.reason, memory);
}
