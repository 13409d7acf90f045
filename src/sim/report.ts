/**
 * Running several policies over one trace and presenting the result: a table for people, JSON for tools, and an SVG
 * chart of queue depth and replicas over time per pool and policy (SVG, so it needs no browser).
 */
import type { Project } from '../core/project.js';
import { simulate, type PoolResult, type SimOptions, type SimResult } from './engine.js';
import { baseline, lowerBound, ownPolicy } from './policies.js';
import type { TraceJob } from './trace.js';

export interface Report {
  jobs: number;
  policies: SimResult[];
  /** Replica-seconds the work itself needs per pool: no policy can be cheaper. */
  lowerBound: { pools: Record<string, number>; total: number };
  elapsedMs: number;
}

export function runReport(project: Project, trace: TraceJob[], policies: string[], opts: { seriesStepMs?: number; now?: () => number; host?: SimOptions['host'] } = {}): Report {
  const clock = opts.now ?? (() => performance.now());
  const t0 = clock();
  const runs = policies.map((name) => simulate(project.config, project.router, trace,
    name === 'trireme' ? ownPolicy(project.config) : baseline(name, project.config), { seriesStepMs: opts.seriesStepMs, host: opts.host }));
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

export function policyRow(name: string, r: PoolResult): string[] {
  return [name, fmt(r.waitP50), fmt(r.waitP95), fmt(r.waitP99), fmt(r.waitMax), fmt(r.replicaSeconds, 0), fmt(r.idleReplicaSeconds, 0), fmt(r.cost, 2), String(r.scaleEvents), String(r.directionChanges), fmt(r.flapsPerHour, 1), String(r.peakReplicas), r.jobs ? fmt((1000 * r.coldStarts) / r.jobs, 1) : '-', fmt(r.starvedSeconds, 0)];
}

export function formatReport(report: Report): string {
  const head = ['policy', 'p50 s', 'p95 s', 'p99 s', 'max s', 'replica-s', 'idle replica-s', 'cost', 'events', 'dir changes', 'flaps/h', 'peak', 'cold/1k', 'starved s'];
  const out = [`${report.jobs} jobs, simulated in ${fmt(report.elapsedMs, 0)} ms`, '', 'overall', table([head, ...report.policies.map((p) => policyRow(p.policy, p.overall)), ['lower bound', '0.0', '0.0', '0.0', '0.0', fmt(report.lowerBound.total, 0), '0', '-', '-', '-', '-', '-', '-', '-']])];
  for (const pool of Object.keys(report.lowerBound.pools)) {
    out.push('', `pool ${pool}`, table([head, ...report.policies.map((p) => policyRow(p.policy, p.pools[pool])), ['lower bound', '0.0', '0.0', '0.0', '0.0', fmt(report.lowerBound.pools[pool], 0), '0', '-', '-', '-', '-', '-', '-', '-']]));
  }
  return out.join('\n');
}

/**
 * Queue depth (thin) and replicas (thick) over time: a row per pool and policy, on one time axis and, per pool, one
 * value scale, so a person sees each pool follow its queue and compares policies row by row.
 */
export function svgChart(report: Report): string {
  const pools = Object.keys(report.lowerBound.pools);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
  const W = 900; const H = 70; const gap = 22; const left = 120; const right = 20;
  const tMax = Math.max(1, ...report.policies.flatMap((p) => Object.values(p.series).flatMap((s) => s.map((q) => q.t))));
  const x = (t: number) => left + ((W - left - right) * t) / tMax;
  const parts: string[] = [];
  let y0 = 10;
  for (const pool of pools) {
    const vMax = Math.max(1, ...report.policies.flatMap((p) => (p.series[pool] ?? []).map((q) => Math.max(q.depth, q.replicas))));
    parts.push(`<text x="4" y="${y0 + 12}" font-size="13" font-weight="bold">${pool}</text><text x="${left}" y="${y0 + 12}" font-size="11">queue depth (thin) and replicas (thick), scale 0-${vMax}</text>`);
    y0 += 18;
    report.policies.forEach((p, i) => {
      const s = p.series[pool] ?? [];
      if (s.length === 0) return;
      // A run that ended early keeps its last state to the common horizon.
      const last = s[s.length - 1];
      const pts = last.t < tMax ? [...s, { ...last, t: tMax }] : s;
      const y = (v: number) => y0 + H - (H * v) / vMax;
      const c = colours[i % colours.length];
      const step = (key: 'depth' | 'replicas') => pts.map((q, k) => `${k ? `${x(q.t).toFixed(1)},${y(pts[k - 1][key]).toFixed(1)} ` : ''}${x(q.t).toFixed(1)},${y(q[key]).toFixed(1)}`).join(' ');
      parts.push(`<text x="4" y="${y0 + H / 2}" font-size="11" fill="${c}">${p.policy}</text>`);
      parts.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${H}" fill="none" stroke="#ddd"/>`);
      parts.push(`<polyline fill="none" stroke="${c}" stroke-opacity="0.6" stroke-width="1" points="${step('depth')}"/>`);
      parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2.2" points="${step('replicas')}"/>`);
      y0 += H + 6;
    });
    y0 += gap;
  }
  parts.push(`<text x="${left}" y="${y0}" font-size="11">0 s</text><text x="${W - right}" y="${y0}" font-size="11" text-anchor="end">${Math.round(tMax)} s</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y0 + 10}" font-family="sans-serif">${parts.join('')}</svg>\n`;
}

export function htmlReport(report: Report): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html><meta charset="utf-8"><title>Trireme simulation</title><body style="font-family:sans-serif">`
    + `<h1>Trireme simulation</h1><pre>${esc(formatReport(report))}</pre>${svgChart(report)}</body>\n`;
}
