/**
 * Reading cost curves: which settings are worth having (the frontier), what a curve offers at a given cost, whether
 * another policy's point lies below it, and how many cold starts one curve saves against another at equal cost.
 * Pure functions of the points (sweep.ts makes them).
 */
import type { CurvePoint } from './sweep.js';

export type Metric = 'coldStartsPer1k' | 'waitP95';

/**
 * The settings worth having on one metric: no other point is as cheap with as low a value. Cheapest first, each
 * lower on the metric than the one before.
 */
export function frontier(points: CurvePoint[], metric: Metric): CurvePoint[] {
  const sorted = [...points].sort((a, b) => a.replicaSeconds - b.replicaSeconds || a[metric] - b[metric]);
  const out: CurvePoint[] = [];
  for (const p of sorted) if (out.length === 0 || p[metric] < out[out.length - 1][metric]) out.push(p);
  return out;
}

/**
 * The curve's value at a cost, as drawn: linear between the frontier's points, flat past its dearest one (spending
 * more buys nothing it has not shown), and undefined below its cheapest (no setting of it is that cheap).
 */
export function curveAt(front: CurvePoint[], replicaSeconds: number, metric: Metric): number | undefined {
  if (front.length === 0 || replicaSeconds < front[0].replicaSeconds) return undefined;
  for (let i = 1; i < front.length; i++) {
    const a = front[i - 1];
    const b = front[i];
    if (replicaSeconds <= b.replicaSeconds) {
      const f = b.replicaSeconds === a.replicaSeconds ? 1 : (replicaSeconds - a.replicaSeconds) / (b.replicaSeconds - a.replicaSeconds);
      return a[metric] + f * (b[metric] - a[metric]);
    }
  }
  return front[front.length - 1][metric];
}

/**
 * Slack before a point counts as below a curve: 2 % of the curve's value plus 0.5 cold starts per 1 000 jobs or
 * 0.1 s of p95 (simulated waits and counts move that much between neighbouring settings); and a point within 1 % of
 * the curve's cheapest replica-seconds is at its cost.
 */
export const TOLERANCE = { relative: 0.02, coldStartsPer1k: 0.5, waitP95: 0.1, cost: 0.01 };

export interface Below { point: CurvePoint; metric: Metric; curve: number; replicaSeconds: number }

const OTHER: Record<Metric, Metric> = { coldStartsPer1k: 'waitP95', waitP95: 'coldStartsPer1k' };
const lower = (value: number, than: number, metric: Metric) => value < than * (1 - TOLERANCE.relative) - TOLERANCE[metric];

/**
 * Our curve at a point's cost, on one metric: undefined past our dearest setting (a point that costs more than
 * every setting of ours is not at our cost, and has more replica-seconds than any of them); our cheapest setting's
 * value below our cheapest (a point cheaper than all of ours is below the curve only if it is also lower than that).
 */
function oursAt(front: CurvePoint[], dearest: number, replicaSeconds: number, metric: Metric): number | undefined {
  if (front.length === 0 || replicaSeconds > dearest * (1 + TOLERANCE.cost)) return undefined;
  return curveAt(front, Math.max(replicaSeconds, front[0].replicaSeconds), metric);
}

/**
 * The points of `theirs` that lie below `ours` on either metric: at their cost our curve is higher by more than the
 * tolerance, or they are cheaper than our cheapest setting and lower than it too (they have both fewer
 * replica-seconds and fewer cold starts, or a lower p95).
 */
export function below(ours: CurvePoint[], theirs: CurvePoint[]): Below[] {
  const out: Below[] = [];
  const dearest = Math.max(...ours.map((p) => p.replicaSeconds));
  for (const metric of ['coldStartsPer1k', 'waitP95'] as const) {
    const front = frontier(ours, metric);
    for (const p of theirs) {
      const at = oursAt(front, dearest, p.replicaSeconds, metric);
      if (at !== undefined && lower(p[metric], at, metric)) out.push({ point: p, metric, curve: at, replicaSeconds: p.replicaSeconds });
    }
  }
  return out;
}

export interface Judgement {
  /** `ok`: no point of theirs is below our curve; `trade`: some are, on one metric, each of them above our curve on the other; `beaten`: a point of theirs is below ours on one metric and not above it on the other. */
  verdict: 'ok' | 'trade' | 'beaten';
  below: (Below & { other: number; oursOther: number })[];
  /** Their points past our dearest setting (more replica-seconds than any of ours: not at our cost). */
  beyond: number;
}

/** Whether our curve is on or below theirs (the bench's verdict per policy, trace, config and pool). */
export function judge(ours: CurvePoint[], theirs: CurvePoint[]): Judgement {
  const dearest = Math.max(...ours.map((p) => p.replicaSeconds));
  const beyond = theirs.filter((p) => p.replicaSeconds > dearest * (1 + TOLERANCE.cost)).length;
  const list = below(ours, theirs).map((b) => {
    const other = OTHER[b.metric];
    return { ...b, other: b.point[other], oursOther: oursAt(frontier(ours, other), dearest, b.replicaSeconds, other) ?? 0 };
  });
  // A point below us on one metric that is well above us on the other is a different trade, not a better policy.
  const beaten = list.some((b) => !(b.other > b.oursOther * (1 + TOLERANCE.relative) + TOLERANCE[OTHER[b.metric]]));
  return { verdict: list.length === 0 ? 'ok' : beaten ? 'beaten' : 'trade', below: list, beyond };
}

export interface ColdCut {
  /** Our point with the largest cut against their curve at its cost (undefined when no point of ours is within their range). */
  best?: { point: CurvePoint; theirs: number; cut: number };
  /** Replica-seconds (from, to) over which our points cut cold starts by at least `atLeast`. */
  range?: [number, number];
  /** Our frontier points up to their curve's dearest, and how many of them cut by at least `atLeast`. */
  compared: number;
  meeting: number;
}

/**
 * How many fewer cold starts our curve has than theirs at equal replica-seconds: each point of our cold-start
 * frontier up to the dearest of their curve, against their curve at its cost. `cut` is 1 - ours / theirs. A point of
 * ours cheaper than any of theirs is held against their cheapest: no setting of theirs costs that little, and their
 * cold starts only rise as they spend less, so their cheapest is the most they could offer at our cost.
 */
export function coldCut(ours: CurvePoint[], theirs: CurvePoint[], atLeast: number): ColdCut {
  const theirFront = frontier(theirs, 'coldStartsPer1k');
  const out: ColdCut = { compared: 0, meeting: 0 };
  if (theirFront.length === 0) return out;
  const first = theirFront[0];
  const last = theirFront[theirFront.length - 1].replicaSeconds;
  for (const p of frontier(ours, 'coldStartsPer1k')) {
    if (p.replicaSeconds > last) continue;
    const at = p.replicaSeconds < first.replicaSeconds ? first.coldStartsPer1k : curveAt(theirFront, p.replicaSeconds, 'coldStartsPer1k');
    if (at === undefined || at === 0) continue;
    const cut = 1 - p.coldStartsPer1k / at;
    out.compared++;
    if (!out.best || cut > out.best.cut) out.best = { point: p, theirs: at, cut };
    if (cut >= atLeast) {
      out.meeting++;
      out.range = [Math.min(out.range?.[0] ?? Infinity, p.replicaSeconds), Math.max(out.range?.[1] ?? 0, p.replicaSeconds)];
    }
  }
  return out;
}
