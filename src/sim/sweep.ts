/**
 * Cost curves: each policy run at many values of its own knob (policies.ts `knobOf`: idle shutdown for Trireme with
 * and without keep-warm, KEDA's cooldownPeriod, the seed's wait before a scale-down), each run giving, per pool, one
 * point: replica-seconds against cold starts per 1 000 jobs, p95 wait and flaps. How Shahrad et al. ("Serverless in
 * the Wild", ATC 2020) present keep-alive policies: a policy is judged by the whole trade-off it offers, not by one
 * setting. Every run of a sweep is charged over the same horizon (the latest end of any of them).
 */
import type { Config } from '../core/config.js';
import type { Router } from '../core/routing.js';
import { formatDuration } from '../core/units.js';
import { simulate, type PoolResult, type SimOptions, type SimResult } from './engine.js';
import { knobOf, policyFor, POLICIES, settingOf, type BaselineTimers } from './policies.js';
import type { TraceJob } from './trace.js';

/** One run of a policy, for one pool. The field names are read by outside checks: keep them. */
export interface CurvePoint {
  /** The knob's value (and for `tune`, every setting swept). */
  setting: Record<string, string | number | boolean>;
  replicaSeconds: number;
  coldStartsPer1k: number;
  /** Seconds. */
  waitP95: number;
  flaps: number;
}

export interface PolicyCurve {
  policy: string;
  /** The knob it varies, when it has one. */
  knob?: string;
  about?: string;
  /** Every run, cheapest first. */
  points: CurvePoint[];
  /** The run at the policy's own settings (the config's for trireme and fixed-idle). */
  own: CurvePoint;
}

export interface SweepReport {
  jobs: number;
  /** Knob values swept, ms. */
  values: number[];
  /** Where the baselines' own settings came from. */
  timers: BaselineTimers;
  pools: Record<string, { jobs: number; curves: Record<string, PolicyCurve> }>;
  runs: number;
  elapsedMs: number;
}

/** 5 s to 2 h: from a timer shorter than a start-up to one that outlasts most gaps. */
export const SWEEP_VALUES = [5, 10, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 7200].map((s) => s * 1000);

export interface SweepOptions {
  policies?: readonly string[];
  values?: number[];
  timers?: BaselineTimers;
  host?: SimOptions['host'];
  now?: () => number;
}

export const pointOf = (setting: CurvePoint['setting'], r: PoolResult): CurvePoint => ({
  setting, replicaSeconds: r.replicaSeconds, coldStartsPer1k: r.jobs ? (1000 * r.coldStarts) / r.jobs : 0, waitP95: r.waitP95, flaps: r.flaps,
});

export function sweep(config: Config, router: Router, trace: TraceJob[], opts: SweepOptions = {}): SweepReport {
  const clock = opts.now ?? (() => performance.now());
  const t0 = clock();
  const values = opts.values ?? SWEEP_VALUES;
  const timers = opts.timers ?? 'own';
  const runs: { policy: string; setting: (pool: string) => CurvePoint['setting']; own: boolean; result: SimResult }[] = [];
  const run = (policy: string, sim: Parameters<typeof simulate>[3], setting: (pool: string) => CurvePoint['setting'], own: boolean) => {
    runs.push({ policy, setting, own, result: simulate(config, router, trace, sim, { host: opts.host }) });
  };
  const knobs: Record<string, { name: string; about: string } | undefined> = {};
  for (const policy of opts.policies ?? POLICIES) {
    const knob = knobOf(policy, config, { timers });
    knobs[policy] = knob && { name: knob.name, about: knob.about };
    run(policy, policyFor(policy, config, { timers }), (pool) => (knob ? settingOf(knob.name, knob.own(pool)) : {}), true);
    if (knob) for (const v of values) run(policy, knob.at(v), () => settingOf(knob.name, v), false);
  }
  const horizon = Math.max(...runs.map((r) => r.result.endMs));
  const pools: SweepReport['pools'] = {};
  for (const pool of Object.keys(config.pools)) {
    const curves: Record<string, PolicyCurve> = {};
    let jobs = 0;
    for (const r of runs) {
      const result = r.result.accountTo(horizon).pools[pool];
      jobs = result.jobs;
      const point = pointOf(r.setting(pool), result);
      const curve = curves[r.policy] ??= { policy: r.policy, knob: knobs[r.policy]?.name, about: knobs[r.policy]?.about, points: [], own: point };
      if (r.own) curve.own = point;
      // The run at its own settings is one of the values swept more often than not: keep one point per setting.
      if (!curve.points.some((p) => JSON.stringify(p.setting) === JSON.stringify(point.setting))) curve.points.push(point);
    }
    for (const c of Object.values(curves)) c.points.sort((a, b) => a.replicaSeconds - b.replicaSeconds);
    pools[pool] = { jobs, curves };
  }
  return { jobs: trace.length, values, timers, pools, runs: runs.length, elapsedMs: clock() - t0 };
}

/** The knob values swept, as people read them. */
export const valuesLabel = (values: number[]) => values.map(formatDuration).join(', ');
