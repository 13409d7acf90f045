/**
 * The autoscaling benchmark: every trace in examples/traces (made by scripts/make-traces.mjs), and in ../shared/traces
 * when that folder exists, or the files / folder given, through the simulator on both example configs (the laptop
 * three-tier config and production.yml), Trireme's policy against the baselines (src/sim/policies.ts). One table per
 * config: trace x policy -> p95 wait (overall and for the heavy pool), replica-seconds, cost, scale events, direction
 * changes, cold starts per 1 000 jobs. Then the targets, checked per trace:
 *  - p95 wait (overall and heavy) no more than 2 % above the best autoscaling baseline's (seed-threshold,
 *    seed-stepwise, keda-default: the one with the lowest p95), at no more replica-seconds than that baseline;
 *  - no more direction changes than seed-threshold + 2;
 *  - on the sparse traces (sparse-heavy, diurnal): cold starts per 1 000 jobs at most half of `fixed-idle`'s (the
 *    same policy without learned keep-warm), at no more replica-seconds.
 * static-max is shown for reference (it never scales, so it is no autoscaler).
 *
 * A synthetic day of 100 000 jobs is added for the speed target (under 10 s for the Trireme policy: the 'sim ms' column).
 *
 *   npm run bench:autoscale [-- --config FILE.yml ...] [-- TRACE.csv ... | DIR]
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, basename, resolve, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project/project.js';
import { readTrace, type TraceJob } from '../src/sim/trace.js';
import { runReport, table } from '../src/sim/report.js';
import type { SimResult } from '../src/sim/engine.js';
import { BASELINES } from '../src/sim/policies.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { config: { type: 'string', multiple: true } } });
const configs = values.config?.length ? values.config : [join(root, 'examples/three-tier/trireme.yml'), join(root, 'examples/three-tier/production.yml')];
const inputs = positionals.length ? positionals : [join(root, 'examples/traces'), join(root, '../shared/traces')].filter((d) => existsSync(d));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.csv')).sort().map((f) => join(p, f)) : [resolve(p)]));

/** A synthetic day of 100 000 jobs (seeded, so every run is the same) for the simulator's speed target. */
function syntheticDay(n = 100_000): TraceJob[] {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const kinds: [string, number][] = [['api.ping', 0.2], ['notify.send', 0.3], ['reports.daily', 8], ['analytics.rollup', 12], ['shap.explain', 60]];
  return Array.from({ length: n }, (_, i) => {
    const k = rnd() < 0.85 ? kinds[Math.floor(rnd() * 2)] : rnd() < 0.9 ? kinds[2 + Math.floor(rnd() * 2)] : kinds[4];
    return { t: (86_400 * i) / n, task: k[0], service: k[1] * (0.5 + rnd()) };
  });
}

const AUTOSCALERS = ['seed-threshold', 'seed-stepwise', 'keda-default'];
const SPARSE = ['sparse-heavy', 'diurnal', 'scheduled-heavy'];
const label = (f: string) => `${relative(join(root, '..'), f).startsWith('shared') ? 'shared/' : ''}${basename(f, '.csv')}`;
const sources: [string, () => Promise<TraceJob[]>][] = [...files.map((f) => [label(f), () => readTrace(f)] as [string, () => Promise<TraceJob[]>]), ['synthetic-100k-day', async () => syntheticDay()]];
const cold = (r: SimResult) => (r.overall.jobs ? (1000 * r.overall.coldStarts) / r.overall.jobs : 0);
let missed = 0;

for (const config of configs) {
  const project = await loadProject(config);
  const rows = [['trace', 'policy', 'p95 wait s', 'heavy p95 s', 'replica-s', 'cost', 'events', 'dir changes', 'cold/1k', 'sim ms']];
  const verdicts: string[] = [];
  const verdict = (ok: boolean, text: string) => { if (!ok) missed++; verdicts.push(`${text} -> ${ok ? 'ok' : 'MISSED'}`); };
  for (const [name, load] of sources) {
    const trace = await load();
    const report = runReport(project, trace, ['trireme', ...BASELINES]);
    for (const p of report.policies) {
      rows.push([name, p.policy, p.overall.waitP95.toFixed(1), p.pools.heavy?.waitP95.toFixed(1) ?? '-', p.overall.replicaSeconds.toFixed(0), p.overall.cost.toFixed(2),
        String(p.overall.scaleEvents), String(p.overall.directionChanges), cold(p).toFixed(0), p.policy === 'trireme' ? report.elapsedMs.toFixed(0) : '']);
    }
    rows.push([name, 'lower bound', '0.0', '0.0', report.lowerBound.total.toFixed(0), '', '', '', '', '']);
    const by = (policy: string) => report.policies.find((p) => p.policy === policy)!;
    const own = by('trireme');
    for (const scope of ['overall', 'heavy'] as const) {
      const p95 = (r: SimResult) => (scope === 'overall' ? r.overall.waitP95 : r.pools.heavy.waitP95);
      const best = AUTOSCALERS.map(by).reduce((a, b) => (p95(b) < p95(a) || (p95(b) === p95(a) && b.overall.replicaSeconds < a.overall.replicaSeconds) ? b : a));
      // Waits are simulated to the millisecond; 0.05 s absorbs the rounding of "both zero".
      verdict(p95(own) <= p95(best) * 1.02 + 0.05 && own.overall.replicaSeconds <= best.overall.replicaSeconds,
        `${name} ${scope} p95: trireme ${p95(own).toFixed(1)} s vs ${best.policy} ${p95(best).toFixed(1)} s (<= +2 %), replica-s ${own.overall.replicaSeconds.toFixed(0)} vs ${best.overall.replicaSeconds.toFixed(0)}`);
    }
    const seed = by('seed-threshold');
    verdict(own.overall.directionChanges <= seed.overall.directionChanges + 2, `${name} direction changes: trireme ${own.overall.directionChanges} vs seed-threshold ${seed.overall.directionChanges} (<= +2)`);
    if (SPARSE.some((s) => name.endsWith(s))) {
      const fixed = by('fixed-idle');
      verdict(cold(own) <= cold(fixed) / 2 && own.overall.replicaSeconds <= fixed.overall.replicaSeconds,
        `${name} cold starts: trireme ${cold(own).toFixed(0)}/1k vs fixed-idle ${cold(fixed).toFixed(0)}/1k (<= half), replica-s ${own.overall.replicaSeconds.toFixed(0)} vs ${fixed.overall.replicaSeconds.toFixed(0)}`);
    }
  }
  console.log(`config ${relative(root, config)}\n`);
  console.log(table(rows));
  console.log(`\n${verdicts.join('\n')}\n`);
}
console.log(missed ? `${missed} target(s) missed` : 'every target met');
