/**
 * The autoscaling benchmark: every trace in examples/traces (made by scripts/make-traces.mjs), and in ../shared/traces
 * when that folder exists, or the files / folder given, through the simulator on
 * the three-tier example config, Trireme's policy against the baselines. One table: trace x policy -> p95 wait
 * (overall and for the heavy pool, where waits happen), replica-seconds, cost, scale events. The target — Trireme's
 * p95 wait at most half the best autoscaling baseline's, with no more replica-seconds than it — is checked per trace
 * against seed-threshold and keda-default; static-max is shown for reference (it never scales, so it is no autoscaler).
 *
 * A synthetic day of 100 000 jobs is added for the speed target (under 10 s for the Trireme policy: the 'sim ms' column).
 *
 *   npm run bench:autoscale [-- --config examples/three-tier/trireme.yml] [-- TRACE.csv ... | DIR]
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project.js';
import { readTrace, type TraceJob } from '../src/sim/trace.js';
import { runReport, table } from '../src/sim/report.js';
import { BASELINES } from '../src/sim/policies.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { config: { type: 'string', default: join(root, 'examples/three-tier/trireme.yml') } } });
const inputs = positionals.length ? positionals : [join(root, 'examples/traces'), join(root, '../shared/traces')].filter((d) => existsSync(d));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.csv')).sort().map((f) => join(p, f)) : [resolve(p)]));
const project = await loadProject(values.config!);

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

const rows = [['trace', 'policy', 'p95 wait s', 'heavy p95 s', 'replica-s', 'cost', 'events', 'sim ms']];
const verdicts: string[] = [];
const sources: [string, () => Promise<TraceJob[]>][] = [...files.map((f) => [f, () => readTrace(f)] as [string, () => Promise<TraceJob[]>]), ['synthetic-100k-day.csv', async () => syntheticDay()]];
for (const [file, load] of sources) {
  const trace = await load();
  const report = runReport(project, trace, ['trireme', ...BASELINES]);
  const name = basename(file, '.csv');
  for (const p of report.policies) {
    rows.push([name, p.policy, p.overall.waitP95.toFixed(1), p.pools.heavy?.waitP95.toFixed(1) ?? '-', p.overall.replicaSeconds.toFixed(0), p.overall.cost.toFixed(2), String(p.overall.scaleEvents), p.policy === 'trireme' ? report.elapsedMs.toFixed(0) : '']);
  }
  rows.push([name, 'lower bound', '0.0', '0.0', report.lowerBound.total.toFixed(0), '', '', '']);
  const own = report.policies[0];
  const autoscalers = report.policies.filter((p) => p.policy === 'seed-threshold' || p.policy === 'keda-default');
  for (const scope of ['overall', 'heavy'] as const) {
    const p95 = (r: typeof own) => (scope === 'overall' ? r.overall.waitP95 : r.pools.heavy.waitP95);
    const best = autoscalers.reduce((a, b) => (p95(b) < p95(a) || (p95(b) === p95(a) && b.overall.replicaSeconds < a.overall.replicaSeconds) ? b : a));
    const waitOk = p95(own) <= p95(best) / 2 || (p95(best) === 0 && p95(own) === 0);
    const costOk = own.overall.replicaSeconds <= best.overall.replicaSeconds;
    verdicts.push(`${name} (${scope}): trireme p95 ${p95(own).toFixed(1)} s vs best baseline ${best.policy} ${p95(best).toFixed(1)} s -> ${waitOk ? 'ok' : 'MISSED'}; replica-s ${own.overall.replicaSeconds.toFixed(0)} vs ${best.overall.replicaSeconds.toFixed(0)} -> ${costOk ? 'ok' : 'MISSED'}`);
  }
}
console.log(`config ${values.config}\n`);
console.log(table(rows));
console.log(`\ntarget: p95 wait <= half the best autoscaling baseline's, with no more replica-seconds\n${verdicts.join('\n')}`);
