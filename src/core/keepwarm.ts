/**
 * Learned keep-warm for pools that scale to zero, after the hybrid histogram policy of Shahrad et al. ("Serverless in
 * the Wild", USENIX ATC 2020): remember the idle gaps between a pool's bursts, and when they are regular, stop the
 * last replica early and start one shortly before the next burst is due (the low percentile of the gaps), keeping it
 * until the high percentile has passed; when they are not (too few, or too spread), the pool's fixed `idleShutdown`
 * applies. Pure and clocked: the caller passes `now`.
 *
 * The gaps are kept as the last WINDOW values (a ring, not a growing histogram), so a change of pattern is followed
 * within WINDOW bursts. Two measures are kept: the idle gap (the end of one burst to the start of the next, as in the
 * paper) and the period (the start of one burst to the start of the next). Work that comes on a schedule (a cron
 * entry every 10 minutes) has regular periods whatever its bursts last, while work that follows the end of earlier
 * work has regular gaps; the tighter of the two is used, and a reason names which.
 *
 * Bursts bigger than one replica (an hourly batch that fans out) are pre-warmed at their size: the pool remembers
 * how many replicas each of its last WINDOW bursts asked for at its peak, and pre-warms the lower quartile of them
 * (what three bursts in four needed), so a replica is only started ahead where nearly every burst has used it.
 */
import { nearestRank } from './histogram.js';

export const WINDOW = 30;
/**
 * Gaps needed before the pattern is trusted. Three are enough to act on: the window's end is estimated past the
 * largest gap seen (`upperEnd`), a window costs at most twice the fixed timer per gap (`warmWindow`), and the ring
 * follows a pattern that turns out wider within a few bursts. A workday of a dozen bursts is over before a larger
 * sample could be waited for (bench:autoscale's workday-bursts: 8 gaps left 3 bursts to act on, 3 leave 8).
 */
export const MIN_GAPS = 3;
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
  /** The last WINDOW periods between burst starts, ms, oldest first. */
  periods?: number[];
  /** When the current (or last) burst began. */
  burstAt?: number;
  /** Replicas each of the last WINDOW bursts asked for at its peak, oldest first. */
  sizes?: number[];
  /** Replicas the current (or last) burst has asked for at most so far. */
  peak?: number;
}

export const emptyGaps = (): IdleGaps => ({ gaps: [] });

/** Updates the gaps with this observation: an idle spell that ends (load again) is one gap. */
export function observeLoad(g: IdleGaps, load: number, now: number): IdleGaps {
  if (load > 0) {
    if (g.idleSince === undefined) return { ...g, lastLoadAt: now, burstAt: g.burstAt ?? now };
    // A burst begins: one more gap, and one more period when an earlier burst's start is known; the last burst's
    // peak joins the sizes.
    const periods = g.burstAt === undefined ? (g.periods ?? []) : [...(g.periods ?? []), now - g.burstAt].slice(-WINDOW);
    const sizes = g.peak === undefined ? g.sizes : [...(g.sizes ?? []), g.peak].slice(-WINDOW);
    return { gaps: [...g.gaps, now - g.idleSince].slice(-WINDOW), periods, lastLoadAt: now, burstAt: now, ...(sizes ? { sizes } : {}) };
  }
  return g.idleSince === undefined && g.lastLoadAt !== undefined ? { ...g, idleSince: g.lastLoadAt } : g;
}

/** The replicas the current burst asks for now (`want`) raise its peak; outside a burst nothing changes. */
export function observeWant(g: IdleGaps, load: number, want: number): IdleGaps {
  return load > 0 && want > (g.peak ?? 0) ? { ...g, peak: want } : g;
}

/**
 * `basis`: what p5 and p99 are measured from: the end of the last burst (`idle`) or its start (`start`). `size`:
 * replicas to pre-warm (the lower quartile of the bursts' peaks once MIN_GAPS are known, else 1).
 */
export interface Pattern {
  p5: number; p50: number; p99: number; n: number; basis: 'idle' | 'start'; size: number;
  /** The gaps (or periods) it was read from, in order: what the expected warm wait is measured on. */
  samples: number[];
}

function regular(values: number[] | undefined, basis: Pattern['basis']): Pattern | undefined {
  if (!values || values.length < MIN_GAPS) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const p5 = nearestRank(sorted, 0.05);
  const p99 = upperEnd(sorted);
  if (p99 > MAX_GAP_MS || p99 > MAX_SPREAD * Math.max(p5, 1_000)) return undefined;
  return { p5, p50: nearestRank(sorted, 0.5), p99, n: sorted.length, basis, size: 1, samples: sorted };
}

/**
 * Where the gaps end (what `p99` holds): the largest seen plus their mean spacing. With at most WINDOW (30) values the
 * 99th percentile by rank is the largest itself, and the largest of n falls short of the top by about one spacing:
 * for gaps spread evenly between a and b, max + (max - min) / (n - 1) is the unbiased estimate of b. A window that
 * ended at the largest gap seen would stop just before the bursts that come latest, most of all while n is small.
 */
function upperEnd(sorted: number[]): number {
  const max = sorted[sorted.length - 1];
  return max + (max - sorted[0]) / (sorted.length - 1);
}

function sizeOf(g: IdleGaps): number {
  if (!g.sizes || g.sizes.length < MIN_GAPS) return 1;
  return Math.max(1, nearestRank([...g.sizes].sort((a, b) => a - b), 0.25));
}

/**
 * The pattern when there is one: enough gaps (or periods), none past MAX_GAP_MS at p99, p99 within MAX_SPREAD of p5;
 * of the two, the one whose p5-p99 window is narrower (a replica kept warm across it costs less); gaps on a tie.
 */
export function pattern(g: IdleGaps): Pattern | undefined {
  // Gaps change only when a burst begins (observeLoad returns the same object otherwise): sort them once per change.
  if (PATTERNS.has(g)) return PATTERNS.get(g);
  const found = patternOf(g);
  PATTERNS.set(g, found);
  return found;
}

const PATTERNS = new WeakMap<IdleGaps, Pattern | undefined>();

function patternOf(g: IdleGaps): Pattern | undefined {
  const idle = regular(g.gaps, 'idle');
  const start = regular(g.periods, 'start');
  const chosen = !idle || !start ? idle ?? start : start.p99 - start.p5 < idle.p99 - idle.p5 ? start : idle;
  return chosen && { ...chosen, size: sizeOf(g) };
}

/** Slack for the resolution at which the controller sees a burst begin (its loop), at most the start-up time. */
const marginOf = (startupTime: number) => Math.min(5_000, startupTime);

/** Where a pool keeps warm across a gap, on its pattern's basis (ms): a replica starts at `from`, stops at `until`. */
export interface WarmWindow {
  from: number; until: number;
  /** Expected warm wait per replica per gap at this window, over the pattern's samples. */
  expected: number;
  /** Starts after p5 less a start-up: the whole window would cost more than the budget. */
  late: boolean;
}

/** Expected warm time per gap of a replica started at `from` and kept until `until`: the burst ends its wait. */
function expectedWait(samples: number[], from: number, until: number): number {
  let sum = 0;
  for (const x of samples) if (x >= from) sum += Math.min(x, until) - from;
  return sum / samples.length;
}

const WINDOWS = new WeakMap<Pattern, Map<string, WarmWindow>>();

/**
 * Where to keep warm: from as early as the pattern allows (its p5, less a start-up and the margin) to its p99 (plus
 * the margin), when the expected warm wait of that window per gap is within twice what the fixed timer spends per
 * gap (idleShutdown plus a start-up: the price of a cold start the user set). A pattern too wide for that (bursts
 * every 20 to 60 minutes for a pool that stops after 20 s) is kept warm only at the end of its window: from the
 * earliest start whose expected warm wait is within the budget. That is where warm time pays most: the later in a
 * bounded gap, the likelier the next burst is in each next second, while the fixed timer spends its time right after
 * the last burst, where the next is least likely.
 */
export function warmWindow(p: Pattern, idleShutdown: number, startupTime: number): WarmWindow {
  const key = `${idleShutdown}/${startupTime}`;
  const cached = WINDOWS.get(p)?.get(key);
  if (cached) return cached;
  const margin = marginOf(startupTime);
  const until = p.p99 + margin;
  const budget = 2 * (idleShutdown + startupTime);
  let from = p.p5 - startupTime - margin;
  let late = false;
  if (expectedWait(p.samples, from, until) > budget) {
    // The expected wait falls as the start moves later: the earliest start within the budget, to the second.
    let lo = from;
    let hi = until;
    while (hi - lo > 1_000) {
      const mid = (lo + hi) / 2;
      if (expectedWait(p.samples, mid, until) > budget) lo = mid; else hi = mid;
    }
    from = hi;
    late = true;
  }
  const w = { from, until, expected: expectedWait(p.samples, from, until), late };
  if (!WINDOWS.has(p)) WINDOWS.set(p, new Map());
  WINDOWS.get(p)!.set(key, w);
  return w;
}

/** How far into the expected gap the pool is now, on the pattern's own basis. */
export function elapsed(p: Pattern, g: IdleGaps, now: number): number {
  const from = p.basis === 'start' ? g.burstAt : (g.idleSince ?? g.lastLoadAt);
  return from === undefined ? 0 : now - from;
}

export type KeepWarmAdvice =
  | { action: 'prewarm'; why: string }
  | { action: 'hold'; why: string }
  | { action: 'stop'; why: string };

const secs = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/**
 * What to do with an idle pool (no load) whose pattern is known. `idle`: how far into the gap it is, on the pattern's
 * basis (`elapsed`); `w`: where it keeps warm (`warmWindow`); `current`: its live replicas; `startupTime`: how long a
 * replica takes to serve. A `prewarm` brings the pool to the pattern's `size`.
 */
export function advise(p: Pattern, w: WarmWindow, idle: number, current: number, startupTime: number): KeepWarmAdvice {
  const of = p.basis === 'idle' ? `${p.n} idle gaps` : `${p.n} periods between burst starts`;
  const expected = w.late
    ? `next burst expected ${secs(p.p5 - idle)} to ${secs(p.p99 - idle)} from now (p5-p99 of ${of}), kept warm for the last ${secs(w.until - w.from)} of that`
    : `next burst expected in ~${secs(p.p5 - idle)} (p5 of ${of})`;
  if (idle >= w.until) return { action: 'stop', why: `keep-warm: ${p.basis === 'idle' ? 'idle' : 'since the last burst began'} ${secs(idle)} past p99 ${secs(p.p99)} of ${of}: to min` };
  const sized = p.size > 1 ? ` ${p.size} (p25 of the bursts' peaks)` : '';
  if (current < p.size && idle >= w.from) return { action: 'prewarm', why: `keep-warm: ${expected}: pre-warm${sized}` };
  if (current > 0) {
    // Stopping is worth it only when the replica would sit idle longer than a restart costs.
    if (w.from - idle > Math.max(startupTime, 30_000)) return { action: 'stop', why: `keep-warm: ${expected}; start again ${secs(w.from - idle)} from now: to min` };
    return { action: 'hold', why: `keep-warm: ${expected}: hold` };
  }
  return { action: 'hold', why: `keep-warm: ${expected}; pre-warm${sized} in ${secs(w.from - idle)}` };
}
