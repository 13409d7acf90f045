/**
 * Running several policies over one trace and presenting the result: a table for people, JSON for tools, and an SVG
 * chart of queue depth and replicas over time per pool and policy (SVG, so it needs no browser).
 */
import type { Project } from '../project.js';
import { simulate, type PoolResult, type SimResult } from './engine.js';
import { baseline, lowerBound, ownPolicy } from './policies.js';
import type { TraceJob } from './trace.js';

export interface Report {
  jobs: number;
  policies: SimResult[];
  /** Replica-seconds the work itself needs per pool: no policy can be cheaper. */
  lowerBound: { pools: Record<string, number>; total: number };
  elapsedMs: number;
}

export function runReport(project: Project, trace: TraceJob[], policies: string[], opts: { seriesStepMs?: number; now?: () => number } = {}): Report {
  const clock = opts.now ?? (() => performance.now());
  const t0 = clock();
  const runs = policies.map((name) => simulate(project.config, project.router, trace,
    name === 'trireme' ? ownPolicy(project.config) : baseline(name, project.config), { seriesStepMs: opts.seriesStepMs }));
  // Charge every policy over the same span: the latest end of any run.
  const horizon = Math.max(...runs.map((r) => r.endMs));
  const results = runs.map((r) => ({ ...r, ...r.accountTo(horizon) }));
  const work = new Map<string, number>();
  for (const j of trace) {
    const pool = project.router.poolFor(project.router.queueFor(j.task))!;
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

export function policyRow(name: string, r: PoolResult): string[] {
  return [name, fmt(r.waitP50), fmt(r.waitP95), fmt(r.waitP99), fmt(r.waitMax), fmt(r.replicaSeconds, 0), fmt(r.idleReplicaSeconds, 0), fmt(r.cost, 2), String(r.scaleEvents), String(r.directionChanges), String(r.peakReplicas)];
}

export function formatReport(report: Report): string {
  const head = ['policy', 'p50 s', 'p95 s', 'p99 s', 'max s', 'replica-s', 'idle replica-s', 'cost', 'events', 'flaps', 'peak'];
  const out = [`${report.jobs} jobs, simulated in ${fmt(report.elapsedMs, 0)} ms`, '', 'overall', table([head, ...report.policies.map((p) => policyRow(p.policy, p.overall)), ['lower bound', '0.0', '0.0', '0.0', '0.0', fmt(report.lowerBound.total, 0), '0', '-', '-', '-', '-']])];
  for (const pool of Object.keys(report.lowerBound.pools)) {
    out.push('', `pool ${pool}`, table([head, ...report.policies.map((p) => policyRow(p.policy, p.pools[pool])), ['lower bound', '0.0', '0.0', '0.0', '0.0', fmt(report.lowerBound.pools[pool], 0), '0', '-', '-', '-', '-']]));
  }
  return out.join('\n');
}

/** Queue depth (line) and replicas (step line) over time: one panel per pool, one colour per policy. */
export function svgChart(report: Report): string {
  const pools = Object.keys(report.lowerBound.pools);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const W = 900; const H = 180; const pad = 40;
  const panels: string[] = [];
  pools.forEach((pool, pi) => {
    const y0 = pi * (H + 30) + 20;
    const all = report.policies.flatMap((p) => p.series[pool] ?? []);
    if (all.length === 0) return;
    const tMax = Math.max(...all.map((s) => s.t), 1);
    const vMax = Math.max(...all.map((s) => Math.max(s.depth, s.replicas)), 1);
    const x = (t: number) => pad + ((W - 2 * pad) * t) / tMax;
    const y = (v: number) => y0 + H - (H * v) / vMax;
    panels.push(`<text x="${pad}" y="${y0 - 5}" font-size="12">${pool}: queue depth (thin) and replicas (thick), max ${vMax}</text>`);
    panels.push(`<rect x="${pad}" y="${y0}" width="${W - 2 * pad}" height="${H}" fill="none" stroke="#ccc"/>`);
    report.policies.forEach((p, i) => {
      const s = p.series[pool] ?? [];
      const c = colours[i % colours.length];
      panels.push(`<polyline fill="none" stroke="${c}" stroke-width="0.8" points="${s.map((q) => `${x(q.t).toFixed(1)},${y(q.depth).toFixed(1)}`).join(' ')}"/>`);
      panels.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${s.map((q) => `${x(q.t).toFixed(1)},${y(q.replicas).toFixed(1)}`).join(' ')}"/>`);
    });
  });
  const legend = report.policies.map((p, i) => `<text x="${pad + i * 150}" y="${pools.length * (H + 30) + 30}" font-size="12" fill="${colours[i % colours.length]}">${p.policy}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${pools.length * (H + 30) + 45}" font-family="sans-serif">${panels.join('')}${legend.join('')}</svg>\n`;
}

export function htmlReport(report: Report): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html><meta charset="utf-8"><title>Trireme simulation</title><body style="font-family:sans-serif">`
    + `<h1>Trireme simulation</h1><pre>${esc(formatReport(report))}</pre>${svgChart(report)}</body>\n`;
}
