/**
 * The autoscaling benchmark, by cost curves: every trace in examples/traces (made by scripts/make-traces.mjs), and in
 * ../shared/traces when that folder exists, or the files / folder given, through the simulator on both example
 * configs (the laptop three-tier config, baselines at their own defaults; production.yml, baselines at the config's
 * timers), each policy swept over its own knob (src/sim/sweep.ts). Per trace, config and pool it prints each
 * policy at its own settings with the span of its curve, then the verdicts:
 *  - Trireme's curve on or below each other policy's (src/sim/curves.ts `judge`): no point of theirs has fewer
 *    replica-seconds and fewer cold starts, or a lower p95 at the same cost. `trade` where their points below ours on
 *    one figure are all above ours on the other (a policy that lets jobs wait for its poll to save cold starts);
 *    `MISSED` where one is below on one figure and not above on the other;
 *  - on the traces with a regular pattern (scheduled-heavy, workday-bursts, hourly-batch), for pools at min 0 (where
 *    keep-warm acts): at least 30 % fewer cold starts than fixed-idle (the same policy, keep-warm off) at equal
 *    replica-seconds, at some setting of ours up to fixed-idle's dearest (one cheaper than all of fixed-idle's is held
 *    against its cheapest; printed with the span over which it holds).
 * The simulator's speed is checked on a synthetic day of 100 000 jobs (target: under 10 s for one run of Trireme's).
 *
 *   npm run bench:autoscale [-- --config FILE.yml ...] [-- --svg DIR] [-- TRACE.csv ... | DIR]
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, basename, resolve, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project/project.js';
import { readTrace, type TraceJob } from '../src/sim/trace.js';
import { table, sweepSvg } from '../src/sim/report.js';
import { simulate } from '../src/sim/engine.js';
import { ownPolicy, type BaselineTimers } from '../src/sim/policies.js';
import { sweep, type CurvePoint } from '../src/sim/sweep.js';
import { coldCut, judge, TOLERANCE } from '../src/sim/curves.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { config: { type: 'string', multiple: true }, svg: { type: 'string' } } });
const configs = values.config?.length ? values.config : [join(root, 'examples/three-tier/trireme.yml'), join(root, 'examples/three-tier/production.yml')];
const inputs = positionals.length ? positionals : [join(root, 'examples/traces'), join(root, '../shared/traces')].filter((d) => existsSync(d));
const files = inputs.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.csv')).sort().map((f) => join(p, f)) : [resolve(p)]));
if (values.svg) mkdirSync(values.svg, { recursive: true });

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

const REGULAR = ['scheduled-heavy', 'workday-bursts', 'hourly-batch'];
const CUT = 0.3;
const label = (f: string) => `${relative(join(root, '..'), f).startsWith('shared') ? 'shared/' : ''}${basename(f, '.csv')}`;
const n0 = (n: number) => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');
const setting = (p: CurvePoint) => Object.entries(p.setting).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
const tally = { ok: 0, trade: 0, beaten: 0, cutMet: 0, cutMissed: 0 };

console.log(`tolerance: ${TOLERANCE.relative * 100} % of the curve + ${TOLERANCE.coldStartsPer1k} cold/1k or ${TOLERANCE.waitP95} s p95; within ${TOLERANCE.cost * 100} % of replica-seconds is the same cost\n`);
for (const config of configs) {
  const project = await loadProject(config);
  const timers: BaselineTimers = basename(config) === 'production.yml' ? 'config' : 'own';
  const rows = [['trace', 'pool', 'policy', 'own setting', 'replica-s', 'cold/1k', 'p95 s', 'flaps', 'curve replica-s', 'curve cold/1k', 'curve p95 s']];
  const verdicts: string[] = [];
  for (const file of files) {
    const name = label(file);
    const trace = await readTrace(file);
    const s = sweep(project.config, project.router, trace, { timers });
    process.stderr.write(`${relative(root, config)} ${name}: ${s.runs} runs in ${(s.elapsedMs / 1000).toFixed(1)} s\n`);
    if (values.svg) writeFileSync(join(values.svg, `autoscale-${basename(config, '.yml')}-${name.replace('/', '-')}.svg`), sweepSvg(s, `${basename(config)}, ${name}`));
    for (const [pool, { jobs, curves }] of Object.entries(s.pools)) {
      if (jobs === 0) continue;
      for (const c of Object.values(curves)) {
        const span = (k: keyof CurvePoint) => {
          const v = c.points.map((p) => p[k] as number);
          return `${n0(Math.min(...v))}-${n0(Math.max(...v))}`;
        };
        rows.push([name, pool, c.policy, setting(c.own), n0(c.own.replicaSeconds), c.own.coldStartsPer1k.toFixed(1), c.own.waitP95.toFixed(1), String(c.own.flaps),
          span('replicaSeconds'), span('coldStartsPer1k'), `${Math.min(...c.points.map((p) => p.waitP95)).toFixed(1)}-${Math.max(...c.points.map((p) => p.waitP95)).toFixed(1)}`]);
      }
      const ours = curves.trireme.points;
      for (const [policy, c] of Object.entries(curves)) {
        if (policy === 'trireme') continue;
        const j = judge(ours, c.points);
        tally[j.verdict]++;
        const first = j.below[0];
        const detail = first ? `; e.g. ${setting(first.point)}: ${n0(first.replicaSeconds)} replica-s, ${first.metric === 'coldStartsPer1k' ? `${first.point.coldStartsPer1k.toFixed(1)} cold/1k against our ${first.curve.toFixed(1)}, p95 ${first.other.toFixed(1)} s against our ${first.oursOther.toFixed(1)}` : `p95 ${first.point.waitP95.toFixed(1)} s against our ${first.curve.toFixed(1)}, ${first.other.toFixed(1)} cold/1k against our ${first.oursOther.toFixed(1)}`}` : '';
        const beyond = j.beyond ? ` (${j.beyond} point(s) dearer than all of ours, not at our cost)` : '';
        verdicts.push(`${name} ${pool} vs ${policy}: ${j.verdict === 'ok' ? 'on or below -> ok' : j.verdict === 'trade' ? `${j.below.length} point(s) below ours on one figure, each above ours on the other -> trade` : `${j.below.length} point(s) below ours -> MISSED`}${detail}${beyond}`);
      }
      if (REGULAR.some((r) => name.endsWith(r))) {
        // Keep-warm acts on pools at min 0 only; above it the two curves are one.
        if (project.config.pools[pool].scaling.min > 0) { verdicts.push(`${name} ${pool} cold starts vs fixed-idle: min ${project.config.pools[pool].scaling.min}, keep-warm does not act -> n/a`); continue; }
        const fixed = curves['fixed-idle'].points;
        if (fixed.every((p) => p.coldStartsPer1k === 0)) { verdicts.push(`${name} ${pool} cold starts vs fixed-idle: none at any setting -> n/a`); continue; }
        const cut = coldCut(ours, fixed, CUT);
        const ok = (cut.best?.cut ?? 0) >= CUT;
        tally[ok ? 'cutMet' : 'cutMissed']++;
        verdicts.push(`${name} ${pool} cold starts vs fixed-idle at equal replica-seconds: ${cut.best ? `best ${(cut.best.cut * 100).toFixed(0)} % fewer (${setting(cut.best.point)}: ${cut.best.point.coldStartsPer1k.toFixed(1)} against ${cut.best.theirs.toFixed(1)} cold/1k at ${n0(cut.best.point.replicaSeconds)} replica-s)` : 'no setting of ours at or below its dearest'}; >= 30 % at ${cut.meeting} of ${cut.compared} of our settings${cut.range ? `, ${n0(cut.range[0])}-${n0(cut.range[1])} replica-s` : ''} -> ${ok ? 'ok' : 'MISSED'}`);
      }
    }
  }
  console.log(`config ${relative(root, config)} (baselines' own settings: ${timers === 'config' ? "the config's timers" : 'their defaults'})\n`);
  console.log(table(rows));
  console.log(`\n${verdicts.join('\n')}\n`);
  const day = syntheticDay();
  const t0 = performance.now();
  simulate(project.config, project.router, day, ownPolicy(project.config));
  const ms = performance.now() - t0;
  console.log(`synthetic day of ${n0(day.length)} jobs: one run of trireme in ${(ms / 1000).toFixed(1)} s (target < 10 s) -> ${ms < 10_000 ? 'ok' : 'MISSED'}\n`);
}
console.log(`curves: ${tally.ok} on or below, ${tally.trade} trades, ${tally.beaten} missed; cold starts vs fixed-idle on regular traces: ${tally.cutMet} met, ${tally.cutMissed} missed`);
