/**
 * `trireme tune`: replay what a pool ran (its jobs from history, Redis or a trace) against a grid of its own settings
 * (min, max, idleShutdown, the target's backlog per slot, keep-warm on and off), in the simulator `serve`'s planning
 * pass runs in, and recommend the settings that meet a stated goal: the cheapest that keep a wait (or cold-start)
 * limit (`p95<=30s`), or the fastest within a budget (`cost`). The curves it returns are the grid's efficient
 * settings (none other is as cheap with as short a p95 and as few cold starts), keep-warm on (`trireme`) and off
 * (`fixed-idle`).
 */
import type { Config } from '../core/config.js';
import type { RanJob } from '../core/records.js';
import { Router } from '../core/routing.js';
import { formatDuration, parseDuration } from '../core/units.js';
import { simulate, type PoolResult, type SimOptions, type SimResult } from './engine.js';
import { ownPolicy } from './policies.js';
import { pointOf, type CurvePoint } from './sweep.js';
import type { TraceJob } from './trace.js';

export type GoalMetric = 'waitP50' | 'waitP95' | 'waitP99' | 'coldStartsPer1k';

export type TuneGoal =
  | { kind: 'limits'; text: string; limits: { metric: GoalMetric; max: number }[] }
  /** `budget`: replica-seconds on the replay; else `share` (1 = 100 %) of what the current settings cost. */
  | { kind: 'cost'; text: string; budget?: number; share?: number };

const METRICS: Record<string, GoalMetric> = { p50: 'waitP50', p95: 'waitP95', p99: 'waitP99', cold: 'coldStartsPer1k' };

/**
 * A goal as written: `p95<=30s` (p50, p95, p99 of the wait, a duration), `cold<=50` (cold starts per 1 000 jobs),
 * several joined by commas; or `cost` (the fastest settings within `budget` replica-seconds, by default what the
 * pool's current settings cost on the same replay).
 */
export function parseGoal(text: string, budget?: string): TuneGoal {
  const t = text.trim();
  if (t === 'cost') {
    if (budget === undefined) return { kind: 'cost', text: t };
    const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(budget.trim());
    if (!m) throw new Error(`budget "${budget}": give replica-seconds (e.g. 36000) or a share of the current cost (e.g. 80%)`);
    return m[2] ? { kind: 'cost', text: `cost within ${m[1]}% of the current settings`, share: Number(m[1]) / 100 } : { kind: 'cost', text: `cost within ${m[1]} replica-seconds`, budget: Number(m[1]) };
  }
  if (budget !== undefined) throw new Error('a budget goes with the goal cost (the fastest settings within it)');
  const limits = t.split(',').map((part) => {
    const m = /^\s*(p50|p95|p99|cold)\s*<=\s*(\S+)\s*$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not a goal; write p95<=30s (p50, p95 or p99 of the wait), cold<=50 (cold starts per 1 000 jobs), several joined by commas, or cost`);
    const metric = METRICS[m[1]];
    let max: number;
    if (metric === 'coldStartsPer1k') {
      max = Number(m[2]);
      if (!Number.isFinite(max) || max < 0) throw new Error(`cold<=${m[2]}: give cold starts per 1 000 jobs, a number >= 0`);
    } else {
      try { max = parseDuration(m[2]) / 1000; } catch (e) { throw new Error(`${m[1]}<=${m[2]}: ${(e as Error).message}`); }
    }
    return { metric, max };
  });
  return { kind: 'limits', text: t, limits };
}

/** The settings a tune varies, as they would be written in the config (durations as text). */
// A type, not an interface, so that it is a setting record (an index signature) as curve points carry.
export type TuneSetting = { min: number; max: number; idleShutdown?: string; targetBacklogPerSlot?: number; hpaTarget?: number; keepWarm?: boolean };

export interface Recommendation extends CurvePoint {
  setting: TuneSetting;
  waitP50: number; waitP99: number;
  goal: string;
  /** Whether it meets the goal (false: no setting tried does; this is the closest). */
  met: boolean;
  why: string;
  /** The lines to paste under the config's `pools:`. */
  yaml: string;
}

export interface PoolTune {
  jobs: number;
  /** The settings tried. */
  runs: number;
  /** The pool's settings now, replayed. */
  current: CurvePoint;
  curves: { trireme: CurvePoint[]; 'fixed-idle': CurvePoint[] };
  recommended: Recommendation;
}

export interface TuneOptions {
  /** `quick`: fewer idle shutdowns and backlog targets (for long histories). */
  grid?: 'full' | 'quick';
  host?: SimOptions['host'];
  /** Called after each run (progress). */
  onRun?: (done: number, total: number) => void;
}

/** Jobs as they ran to a trace, in seconds from the first submit. */
export function traceOf(jobs: RanJob[]): TraceJob[] {
  if (jobs.length === 0) return [];
  const t0 = Math.min(...jobs.map((j) => j.submittedAt));
  return jobs.map((j) => ({
    t: (j.submittedAt - t0) / 1000, task: j.task, service: j.service, queue: j.queue,
    ...(j.delay > 0 ? { delay: j.delay / 1000 } : {}), ...(j.priority ? { priority: j.priority } : {}),
  })).sort((a, b) => a.t - b.t);
}

const uniq = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
const IDLE_FULL = [10, 30, 60, 300, 1200, 3600].map((s) => s * 1000);
const IDLE_QUICK = [30, 300, 1800].map((s) => s * 1000);

/** The config with only this pool, at these settings: the pool replays alone, as it shares nothing with the others. */
function variant(config: Config, pool: string, s: TuneSetting): Config {
  const p = config.pools[pool];
  const scaling = {
    ...p.scaling, min: s.min, max: s.max,
    ...(s.idleShutdown !== undefined ? { idleShutdown: parseDuration(s.idleShutdown) } : {}),
    ...(s.targetBacklogPerSlot !== undefined ? { targetBacklogPerSlot: s.targetBacklogPerSlot } : {}),
    ...(s.hpaTarget !== undefined ? { hpaTarget: s.hpaTarget } : {}),
    ...(s.keepWarm !== undefined ? { keepWarm: s.keepWarm } : {}),
  };
  return { ...config, pools: { [pool]: { ...p, scaling } } };
}

/** The settings to try: the pool's own values among them, max never below min. */
export function grid(config: Config, pool: string, which: TuneOptions['grid'] = 'full'): TuneSetting[] {
  const s = config.pools[pool].scaling;
  const mins = uniq([0, 1, s.min]);
  const maxes = uniq([Math.max(1, Math.ceil(s.max / 2)), s.max, s.max * 2, ...(which === 'quick' ? [] : [s.max * 4])]);
  const out: TuneSetting[] = [];
  if (s.policy === 'hpa') {
    // The hpa policy times itself with `behavior`: only its bounds and its target per replica are tuned.
    for (const min of mins) for (const max of maxes) for (const hpaTarget of uniq([1, 2, 5, 10, s.hpaTarget])) if (max >= min && max > 0) out.push({ min, max, hpaTarget });
    return out;
  }
  const idles = uniq([...(which === 'quick' ? IDLE_QUICK : IDLE_FULL), s.idleShutdown]);
  const targets = s.policy === 'target' ? uniq([...(which === 'quick' ? [1, 4] : [1, 2, 4]), s.targetBacklogPerSlot]) : [undefined];
  for (const min of mins) {
    for (const max of maxes) {
      if (max < min || max === 0) continue;
      for (const idle of idles) {
        for (const target of targets) {
          // Keep-warm acts only on pools at min 0.
          for (const keepWarm of min === 0 ? [true, false] : [false]) {
            out.push({ min, max, idleShutdown: formatDuration(idle), ...(target !== undefined ? { targetBacklogPerSlot: target } : {}), keepWarm });
          }
        }
      }
    }
  }
  return out;
}

interface Run { setting: TuneSetting; result: PoolResult }

const value = (r: PoolResult, m: GoalMetric) => (m === 'coldStartsPer1k' ? (r.jobs ? (1000 * r.coldStarts) / r.jobs : 0) : r[m]);

/** Points no other point beats on replica-seconds, p95 and cold starts at once, cheapest first. */
export function efficient(points: CurvePoint[]): CurvePoint[] {
  const beats = (a: CurvePoint, b: CurvePoint) => a.replicaSeconds <= b.replicaSeconds && a.waitP95 <= b.waitP95 && a.coldStartsPer1k <= b.coldStartsPer1k
    && (a.replicaSeconds < b.replicaSeconds || a.waitP95 < b.waitP95 || a.coldStartsPer1k < b.coldStartsPer1k);
  return points.filter((p) => !points.some((q) => beats(q, p))).sort((a, b) => a.replicaSeconds - b.replicaSeconds || a.waitP95 - b.waitP95);
}

/** The YAML lines that set these settings for the pool. */
export function yamlOf(pool: string, s: TuneSetting): string {
  const lines = [`pools:`, `  ${pool}:`, `    scaling:`, `      min: ${s.min}`, `      max: ${s.max}`];
  if (s.idleShutdown !== undefined) lines.push(`      idleShutdown: ${s.idleShutdown}`);
  if (s.targetBacklogPerSlot !== undefined) lines.push(`      targetBacklogPerSlot: ${s.targetBacklogPerSlot}`);
  if (s.hpaTarget !== undefined) lines.push(`      hpaTarget: ${s.hpaTarget}`);
  if (s.keepWarm !== undefined && s.min === 0) lines.push(`      keepWarm: ${s.keepWarm}`);
  return `${lines.join('\n')}\n`;
}

const fmtS = (s: number) => `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;

function choose(runs: Run[], current: PoolResult, goal: TuneGoal): { run: Run; met: boolean; why: string } {
  const rs = (r: Run) => r.result.replicaSeconds;
  const by = (...keys: ((r: Run) => number)[]) => (a: Run, b: Run) => { for (const k of keys) { const d = k(a) - k(b); if (d !== 0) return d; } return 0; };
  const cold = (r: Run) => value(r.result, 'coldStartsPer1k');
  const p95 = (r: Run) => r.result.waitP95;
  const flaps = (r: Run) => r.result.flaps;
  if (goal.kind === 'cost') {
    const budget = goal.budget ?? current.replicaSeconds * (goal.share ?? 1);
    const within = runs.filter((r) => rs(r) <= budget * (1 + 1e-9));
    if (within.length) {
      const run = within.sort(by(p95, cold, rs, flaps))[0];
      return { run, met: true, why: `the shortest p95 wait within ${Math.round(budget)} replica-seconds (${goal.budget === undefined ? `${Math.round((goal.share ?? 1) * 100)} % of what the current settings cost` : 'the budget'})` };
    }
    const run = [...runs].sort(by(rs, p95))[0];
    return { run, met: false, why: `no setting tried costs ${Math.round(budget)} replica-seconds or less: the cheapest` };
  }
  const meets = (r: Run) => goal.limits.every((l) => value(r.result, l.metric) <= l.max + 1e-9);
  const meeting = runs.filter(meets);
  if (meeting.length) return { run: meeting.sort(by(rs, cold, p95, flaps))[0], met: true, why: `the cheapest of ${meeting.length} setting(s) tried that meet ${goal.text}` };
  // None meets it: the one that comes closest (the smallest worst ratio to its limit), then the cheapest.
  const over = (r: Run) => Math.max(...goal.limits.map((l) => value(r.result, l.metric) / Math.max(l.max, 1e-9)));
  return { run: [...runs].sort(by(over, rs))[0], met: false, why: `no setting tried meets ${goal.text}: the closest` };
}

/** Replays one pool's jobs against its grid of settings and recommends one for the goal. */
export function tunePool(config: Config, pool: string, trace: TraceJob[], goal: TuneGoal, opts: TuneOptions = {}): PoolTune {
  const settings = grid(config, pool, opts.grid);
  const replay = (cfg: Config): SimResult => simulate(cfg, new Router(cfg.routes, cfg.defaultQueue, cfg.pools), trace, ownPolicy(cfg), { host: opts.host });
  const currentRun = replay(variant(config, pool, { min: config.pools[pool].scaling.min, max: config.pools[pool].scaling.max }));
  const results: { setting: TuneSetting; sim: SimResult }[] = [];
  settings.forEach((setting, i) => {
    results.push({ setting, sim: replay(variant(config, pool, setting)) });
    opts.onRun?.(i + 1, settings.length);
  });
  // Every run charged over the same span.
  const horizon = Math.max(currentRun.endMs, ...results.map((r) => r.sim.endMs));
  const runs: Run[] = results.map((r) => ({ setting: r.setting, result: r.sim.accountTo(horizon).pools[pool] }));
  const current = currentRun.accountTo(horizon).pools[pool];
  const s = config.pools[pool].scaling;
  const currentSetting: TuneSetting = {
    min: s.min, max: s.max, ...(s.policy === 'hpa' ? { hpaTarget: s.hpaTarget } : { idleShutdown: formatDuration(s.idleShutdown) }),
    ...(s.policy === 'target' ? { targetBacklogPerSlot: s.targetBacklogPerSlot } : {}), ...(s.policy !== 'hpa' && s.min === 0 ? { keepWarm: s.keepWarm ?? true } : {}),
  };
  const point = (r: Run) => pointOf(r.setting, r.result);
  // Settings with min > 0 are the same with keep-warm on or off (it acts at min 0 only): they belong to both curves.
  const on = runs.filter((r) => r.setting.keepWarm !== false || r.setting.min > 0).map(point);
  const off = runs.filter((r) => r.setting.keepWarm !== true).map(point);
  const chosen = choose(runs, current, goal);
  const r = chosen.run.result;
  return {
    jobs: trace.length,
    runs: runs.length + 1,
    current: pointOf(currentSetting, current),
    curves: { trireme: efficient(on), 'fixed-idle': efficient(off) },
    recommended: {
      ...pointOf(chosen.run.setting, r), setting: chosen.run.setting,
      waitP50: r.waitP50, waitP99: r.waitP99, goal: goal.text, met: chosen.met,
      why: `${chosen.why}: p95 wait ${fmtS(r.waitP95)}, ${value(r, 'coldStartsPer1k').toFixed(1)} cold starts per 1 000 jobs, ${Math.round(r.replicaSeconds)} replica-seconds (now: ${fmtS(current.waitP95)}, ${value(current, 'coldStartsPer1k').toFixed(1)}, ${Math.round(current.replicaSeconds)})`,
      yaml: yamlOf(pool, chosen.run.setting),
    },
  };
}

/** The replay of the current and the recommended settings over time, for a report's charts. */
export function replayBoth(config: Config, pool: string, trace: TraceJob[], recommended: TuneSetting, seriesStepMs: number): Pick<SimResult, 'policy' | 'series'>[] {
  const run = (name: string, cfg: Config) => ({ ...simulate(cfg, new Router(cfg.routes, cfg.defaultQueue, cfg.pools), trace, ownPolicy(cfg), { seriesStepMs }), policy: name });
  const s = config.pools[pool].scaling;
  return [run('current settings', variant(config, pool, { min: s.min, max: s.max })), run('recommended', variant(config, pool, recommended))];
}
