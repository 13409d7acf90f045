/**
 * Learned keep-warm for pools that scale to zero, after the hybrid histogram policy of Shahrad et al. ("Serverless in
 * the Wild", USENIX ATC 2020): remember the idle gaps between a pool's bursts, and when they are regular, stop the
 * last replica early and start one shortly before the next burst is due (the low percentile of the gaps), keeping it
 * until the high percentile has passed; when they are not (too few, or too spread), the pool's fixed `idleShutdown`
 * applies. Pure and clocked: the caller passes `now`.
 *
 * The gaps are kept as the last WINDOW values (a ring, not a growing histogram), so a change of pattern is followed
 * within WINDOW bursts.
 */
import { nearestRank } from './histogram.js';

export const WINDOW = 30;
/** Gaps needed before the pattern is trusted. */
export const MIN_GAPS = 8;
/** A gap longer than this is not a pattern to keep warm for. */
export const MAX_GAP_MS = 2 * 3_600_000;
/** Regular: the gaps' p99 is within this factor of their p5 (a burst every 2 min, give or take a minute, is; one every 10 s to 1 h is not). */
export const MAX_SPREAD = 4;

export interface IdleGaps {
  /** The last WINDOW gaps, ms, oldest first. */
  gaps: number[];
  /** When the current idle spell began (the last time the pool had load), while it is idle. */
  idleSince?: number;
  /** The last time the pool had load: an idle spell counts only after one (the wait before the first burst is no gap). */
  lastLoadAt?: number;
}

export const emptyGaps = (): IdleGaps => ({ gaps: [] });

/** Updates the gaps with this observation: an idle spell that ends (load again) is one gap. */
export function observeLoad(g: IdleGaps, load: number, now: number): IdleGaps {
  if (load > 0) {
    return { gaps: g.idleSince === undefined ? g.gaps : [...g.gaps, now - g.idleSince].slice(-WINDOW), lastLoadAt: now };
  }
  return g.idleSince === undefined && g.lastLoadAt !== undefined ? { ...g, idleSince: g.lastLoadAt } : g;
}

export interface Pattern { p5: number; p99: number; n: number }

/** The pattern when it is one: enough gaps, none past MAX_GAP_MS at p99, p99 within MAX_SPREAD of p5. */
export function pattern(g: IdleGaps): Pattern | undefined {
  if (g.gaps.length < MIN_GAPS) return undefined;
  const sorted = [...g.gaps].sort((a, b) => a - b);
  const p5 = nearestRank(sorted, 0.05);
  const p99 = nearestRank(sorted, 0.99);
  if (p99 > MAX_GAP_MS || p99 > MAX_SPREAD * Math.max(p5, 1_000)) return undefined;
  return { p5, p99, n: sorted.length };
}

export type KeepWarmAdvice =
  | { action: 'prewarm'; why: string }
  | { action: 'hold'; why: string }
  | { action: 'stop'; why: string };

const secs = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/**
 * What to do with an idle pool (no load) whose pattern is known. `idle`: how long it has been idle; `current`: its
 * live replicas; `startupTime`: how long a replica takes to serve.
 */
export function advise(p: Pattern, idle: number, current: number, startupTime: number): KeepWarmAdvice {
  // Slack for the resolution at which the controller sees a burst begin (its loop), at most the start-up time.
  const margin = Math.min(5_000, startupTime);
  const prewarmAt = p.p5 - startupTime - margin;
  const keepUntil = p.p99 + margin;
  const expected = `next burst expected in ~${secs(p.p5 - idle)} (p5 of ${p.n} idle gaps)`;
  if (idle >= keepUntil) return { action: 'stop', why: `keep-warm: idle ${secs(idle)} past p99 ${secs(p.p99)} of ${p.n} idle gaps: to min` };
  if (current > 0) {
    // Stopping is worth it only when the replica would sit idle longer than a restart costs.
    if (prewarmAt - idle > Math.max(startupTime, 30_000)) return { action: 'stop', why: `keep-warm: ${expected}; start again ${secs(prewarmAt - idle)} from now: to min` };
    return { action: 'hold', why: `keep-warm: ${expected}: hold` };
  }
  if (idle >= prewarmAt) return { action: 'prewarm', why: `keep-warm: ${expected}: pre-warm` };
  return { action: 'hold', why: `keep-warm: ${expected}; pre-warm in ${secs(prewarmAt - idle)}` };
}
