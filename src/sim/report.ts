/**
 * Running several policies over one trace and presenting the result: a table for people, JSON for tools, and the
 * replay as charts (queue and replicas over time per pool, one line per policy) on an HTML page (uPlot, as the
 * dashboard draws) or as SVG. A sweep's cost curves are presented the same ways (`sweepPage`, `formatSweep`).
 */
import type { Project } from '../core/project.js';
import { simulate, type PoolResult, type SimOptions, type SimResult } from './engine.js';
import { lowerBound, policyFor, type BaselineOptions } from './policies.js';
import { curveCharts, curveTable, replayCharts, type Page, type TableSpec } from './page.js';
import { svgCharts } from './svg.js';
import { valuesLabel, type CurvePoint, type SweepReport } from './sweep.js';
import type { PoolTune } from './tune.js';
import type { TraceJob } from './trace.js';

export interface Report {
  jobs: number;
  policies: SimResult[];
  /** Replica-seconds the work itself needs per pool: no policy can be cheaper. */
  lowerBound: { pools: Record<string, number>; total: number };
  elapsedMs: number;
}

export function runReport(project: Project, trace: TraceJob[], policies: string[], opts: { seriesStepMs?: number; now?: () => number; host?: SimOptions['host'] } & BaselineOptions = {}): Report {
  const clock = opts.now ?? (() => performance.now());
  const t0 = clock();
  const runs = policies.map((name) => simulate(project.config, project.router, trace, policyFor(name, project.config, opts), { seriesStepMs: opts.seriesStepMs, host: opts.host }));
  // Charge every policy over the same span: the latest end of any run.
  const horizon = Math.max(...runs.map((r) => r.endMs));
  const results = runs.map((r) => ({ ...r, ...r.accountTo(horizon) }));
  const work = new Map<string, number>();
  for (const j of trace) {
    const pool = project.router.poolFor(project.router.queueFor(j.task, j.queue))!;
    work.set(pool, (work.get(pool) ?? 0) + j.service);
  }
  const pools = lowerBound(project.config, work);
  return { jobs: trace.length, policies: results, lowerBound: { pools, total: Object.values(pools).reduce((a, b) => a + b, 0) }, elapsedMs: clock() - t0 };
}

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

const HEAD = ['policy', 'p50 s', 'p95 s', 'p99 s', 'max s', 'replica-s', 'idle replica-s', 'cost', 'events', 'flaps', 'peak', 'cold/1k', 'starved s'];

export function policyRow(name: string, r: PoolResult): string[] {
  return [name, fmt(r.waitP50), fmt(r.waitP95), fmt(r.waitP99), fmt(r.waitMax), fmt(r.replicaSeconds, 0), fmt(r.idleReplicaSeconds, 0), fmt(r.cost, 2), String(r.scaleEvents), String(r.flaps), String(r.peakReplicas), r.jobs ? fmt((1000 * r.coldStarts) / r.jobs, 1) : '-', fmt(r.starvedSeconds, 0)];
}

const boundRow = (rs: number) => ['lower bound', '0.0', '0.0', '0.0', '0.0', fmt(rs, 0), '0', '-', '-', '-', '-', '-', '-'];

function tables(report: Report): TableSpec[] {
  return [
    { caption: 'overall', head: HEAD, rows: [...report.policies.map((p) => policyRow(p.policy, p.overall)), boundRow(report.lowerBound.total)] },
    ...Object.keys(report.lowerBound.pools).map((pool) => ({
      caption: `pool ${pool}`, head: HEAD, rows: [...report.policies.map((p) => policyRow(p.policy, p.pools[pool])), boundRow(report.lowerBound.pools[pool])],
    })),
  ];
}

export function formatReport(report: Report): string {
  const out = [`${report.jobs} jobs, simulated in ${fmt(report.elapsedMs, 0)} ms (flaps: restarts within start-up time plus the idle time before the stop)`];
  for (const t of tables(report)) out.push('', t.caption!, table([t.head, ...t.rows]));
  return out.join('\n');
}

/** The replay as a report page: per pool, replicas and queued jobs over time for every policy, the tables beneath. */
export function reportPage(report: Report): Page {
  const pools = Object.keys(report.lowerBound.pools);
  const all = tables(report);
  return {
    title: 'Trireme simulation',
    subtitle: `${report.jobs} jobs replayed against ${report.policies.map((p) => p.policy).join(', ')}; replica-seconds are charged over the same span for every policy`,
    sections: [
      ...pools.map((pool) => ({ heading: `pool ${pool}`, charts: replayCharts(pool, report.policies), tables: all.filter((t) => t.caption === `pool ${pool}`) })),
      { heading: 'overall', charts: [], tables: all.filter((t) => t.caption === 'overall') },
    ],
  };
}

/** The replay's charts as SVG. */
export function svgChart(report: Report): string {
  return svgCharts(Object.keys(report.lowerBound.pools).flatMap((pool) => replayCharts(pool, report.policies)), { heading: `Trireme simulation: ${report.jobs} jobs` });
}

/** A sweep as a report page: per pool, the cost curves, and every run beneath them. */
export function sweepPage(s: SweepReport, title = 'Trireme cost curves'): Page {
  return {
    title,
    subtitle: `${s.jobs} jobs; each policy run at ${s.values.length} values of its knob (${valuesLabel(s.values)}) and at its own settings (baselines' own: ${s.timers === 'config' ? "the config's timers" : 'their defaults'}); ${s.runs} runs in ${fmt(s.elapsedMs / 1000, 1)} s`,
    sections: Object.entries(s.pools).filter(([, p]) => p.jobs > 0).map(([pool, p]) => ({
      heading: `pool ${pool} (${p.jobs} jobs)`,
      text: Object.values(p.curves).filter((c) => c.knob).map((c) => `${c.policy}: ${c.about}`).join('\n'),
      charts: curveCharts(pool, Object.values(p.curves)),
      tables: [curveTable(pool, Object.values(p.curves))],
    })),
  };
}

/** A sweep as text: per pool, every run of every policy. */
export function formatSweep(s: SweepReport): string {
  const out = [`${s.jobs} jobs, ${s.runs} runs in ${fmt(s.elapsedMs / 1000, 1)} s; knob values: ${valuesLabel(s.values)}`];
  for (const [pool, p] of Object.entries(s.pools)) {
    if (p.jobs === 0) continue;
    const t = curveTable(pool, Object.values(p.curves));
    out.push('', `${t.caption} (${p.jobs} jobs)`, table([t.head, ...t.rows]));
  }
  return out.join('\n');
}

/** A sweep's curves as SVG, per pool. */
export function sweepSvg(s: SweepReport, heading?: string): string {
  return svgCharts(Object.entries(s.pools).filter(([, p]) => p.jobs > 0).flatMap(([pool, p]) => curveCharts(pool, Object.values(p.curves))), { heading });
}

/** What `trireme tune` found for one pool, as its report page shows it. */
export interface TunedPool { pool: string; source: string; tune: PoolTune; replay: Pick<SimResult, 'policy' | 'series'>[] }

const settingText = (s: CurvePoint['setting']) => Object.entries(s).map(([k, v]) => `${k} ${v}`).join(', ');

/** `tune --out`: per pool, the curves with the current and the recommended settings marked, the replay of both, the tables. */
export function tunePage(pools: TunedPool[], goal: string): Page {
  return {
    title: 'Trireme tune',
    subtitle: `goal: ${goal}`,
    sections: pools.map(({ pool, source, tune, replay }) => ({
      heading: `pool ${pool}`,
      text: `${tune.jobs} jobs from ${source}, replayed against ${tune.runs} settings.\nRecommended: ${tune.recommended.why}.`,
      charts: [
        ...curveCharts(pool, [
          { policy: 'trireme', knob: 'settings', points: tune.curves.trireme, own: tune.current },
          { policy: 'fixed-idle', knob: 'settings', points: tune.curves['fixed-idle'], own: tune.current },
        ], [{ label: 'current settings', point: tune.current }, { label: 'recommended', point: tune.recommended }]),
        ...replayCharts(pool, replay),
      ],
      tables: [
        { caption: 'current and recommended', head: ['', 'settings', 'replica-s', 'cold/1k', 'p95 wait s', 'flaps'], rows: [tune.current, tune.recommended].map((p, i) => [i ? 'recommended' : 'current', settingText(p.setting), p.replicaSeconds.toFixed(0), p.coldStartsPer1k.toFixed(1), p.waitP95.toFixed(1), String(p.flaps)]) },
        ...(['trireme', 'fixed-idle'] as const).map((c) => ({
          caption: `${c === 'trireme' ? 'keep-warm on' : 'keep-warm off'}: the efficient settings`,
          head: ['settings', 'replica-s', 'cold/1k', 'p95 wait s', 'flaps'],
          rows: tune.curves[c].map((p) => [settingText(p.setting), p.replicaSeconds.toFixed(0), p.coldStartsPer1k.toFixed(1), p.waitP95.toFixed(1), String(p.flaps)]),
        })),
      ],
    })),
  };
}

/** `tune` for people: per pool, the curves' efficient settings, then the recommendation with its YAML. */
export function formatTune(pools: TunedPool[], goal: string): string {
  const out = [`goal: ${goal}`];
  for (const { pool, source, tune } of pools) {
    out.push('', `pool ${pool}: ${tune.jobs} jobs from ${source}, ${tune.runs} settings replayed`);
    const rows = [['curve', 'settings', 'replica-s', 'cold/1k', 'p95 wait s', 'flaps'], ['now', settingText(tune.current.setting), fmt(tune.current.replicaSeconds, 0), fmt(tune.current.coldStartsPer1k), fmt(tune.current.waitP95), String(tune.current.flaps)]];
    for (const c of ['trireme', 'fixed-idle'] as const) {
      for (const p of tune.curves[c]) rows.push([c, settingText(p.setting), fmt(p.replicaSeconds, 0), fmt(p.coldStartsPer1k), fmt(p.waitP95), String(p.flaps)]);
    }
    out.push(table(rows), '', `${tune.recommended.met ? 'recommended' : 'closest (goal not met)'}: ${tune.recommended.why}`, '', tune.recommended.yaml.trimEnd());
  }
  return out.join('\n');
}
