/** The bodies of `trireme simulate` and `trireme plan`. */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { basename, resolve } from 'node:path';
import { readTrace } from '../../sim/trace.js';
import { POLICIES } from '../../sim/policies.js';
import { formatReport, formatSweep, reportPage, runReport, svgChart, sweepPage, sweepSvg } from '../../sim/report.js';
import { sweep } from '../../sim/sweep.js';
import { htmlPage } from '../../sim/html.js';
import { planTables } from '../../sim/plan.js';
import { oversizedPools } from '../../core/host-fit.js';
import { DRIVERS } from '../../drivers/index.js';
import { parseDuration, parseSize } from '../../core/units.js';
import { globals, intOpt, numberOpt, project, UsageError } from '../common.js';
import type { SimulateCli } from '../simulate.js';

export async function simulate(cmd: Command, o: SimulateCli): Promise<void> {
  // Routes and pools are all a simulation needs: no task code runs.
  const p = await project(globals(cmd), { tasks: false });
  for (const name of o.policy) if (!(POLICIES as readonly string[]).includes(name)) throw new UsageError(`--policy: unknown policy "${name}"; use: ${POLICIES.join(', ')}`);
  if (o.baselineTimers !== 'own' && o.baselineTimers !== 'config') throw new UsageError(`--baseline-timers: use own or config, got "${o.baselineTimers}"`);
  const timers = o.baselineTimers;
  if (o.values !== undefined && !o.sweep) throw new UsageError('--values: only with --sweep (the knob values a sweep runs)');
  if (o.out && !/\.(html|svg|json)$/.test(o.out)) throw new UsageError(`--out: write .html (charts and tables), .svg (charts) or .json, got "${o.out}"`);
  let trace;
  try { trace = await readTrace(o.trace); } catch (e) { throw new UsageError(`--trace: ${(e as Error).message}`); }
  // A line's queue column wins over routing (a Celery pool's queues are named so: Trireme's routes do not reach them).
  for (const j of trace) {
    const queue = p.router.queueFor(j.task, j.queue);
    if (!p.router.poolFor(queue)) throw new UsageError(`--trace: task "${j.task}" goes to queue "${queue}", which no pool of this config serves`);
  }
  const span = trace.length ? trace[trace.length - 1].t : 0;
  let memory;
  try { memory = o.hostMemory === undefined ? undefined : parseSize(o.hostMemory); } catch (e) { throw new UsageError(`--host-memory: ${(e as Error).message}`); }
  const host = {
    cpu: o.hostCpu === undefined ? undefined : numberOpt(o.hostCpu, '--host-cpu'),
    memory,
    gpu: o.hostGpu === undefined ? undefined : intOpt(o.hostGpu, '--host-gpu', 0),
  };
  const wrote = (what: string) => process.stderr.write(`trireme: wrote ${what} to ${resolve(o.out!)}\n`);
  if (o.sweep) {
    const values = o.values === undefined ? undefined : o.values.split(',').map((v, i) => {
      try { return parseDuration(v.trim()); } catch (e) { throw new UsageError(`--values: item ${i + 1} ("${v}"): ${(e as Error).message}`); }
    });
    const s = sweep(p.config, p.router, trace, { policies: o.policy, values, timers, host });
    if (o.out) {
      // On stderr: stdout carries the report (or its JSON) and may be piped.
      await writeFile(o.out, o.out.endsWith('.svg') ? sweepSvg(s, `Cost curves: ${basename(o.trace)}`) : o.out.endsWith('.html') ? htmlPage(sweepPage(s, `Cost curves: ${basename(o.trace)}`)) : `${JSON.stringify(s, null, 2)}\n`);
      wrote(o.out.endsWith('.svg') ? 'the curves' : o.out.endsWith('.html') ? 'the report (curves and tables)' : 'the curves as JSON');
    }
    process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatSweep(s)}\n`);
    return;
  }
  const report = runReport(p, trace, o.policy, { host, timers, seriesStepMs: o.out && !o.out.endsWith('.json') ? Math.max(1_000, (span * 1000) / 1500) : undefined });
  if (o.out) {
    const body = o.out.endsWith('.svg') ? svgChart(report) : o.out.endsWith('.html') ? htmlPage(reportPage(report)) : `${JSON.stringify({ ...report, policies: report.policies.map(({ accountTo: _a, ...rest }) => rest) }, null, 2)}\n`;
    await writeFile(o.out, body);
    wrote(o.out.endsWith('.svg') ? 'the chart' : o.out.endsWith('.html') ? 'the report (charts and tables)' : 'the report as JSON');
  }
  if (o.json) {
    const slim = { ...report, policies: report.policies.map(({ series: _s, events: _e, accountTo: _a, ...rest }) => rest) };
    process.stdout.write(`${JSON.stringify(slim, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatReport(report)}\n`);
  }
}

export async function plan(cmd: Command, o: { hostCpu: string; hostMemory: string; json?: boolean }): Promise<void> {
  const p = await project(globals(cmd), { tasks: false });
  const tables = planTables(p.config, { cpu: Number(o.hostCpu), memory: parseSize(o.hostMemory), gpu: p.config.capacity.gpu ?? 0 });
  // The pools whose replicas run on this machine (the local driver): one that does not fit it never starts.
  const here = Object.fromEntries(Object.entries(p.config.pools).filter(([, x]) => DRIVERS[x.driver.kind]?.placement === 'this-host'));
  const why = (r: 'cpu' | 'memory') => `a replica does not fit this machine (${r === 'cpu' ? "Docker refuses a cpus limit above the host's CPUs; " : ''}the local driver starts one only where capacity.${r} x capacity.overcommit allows it)`;
  for (const x of oversizedPools(here, { cpu: availableParallelism(), memory: totalmem() }, why)) {
    process.stderr.write(`trireme: warning: ${x.message}\n`);
  }
  process.stdout.write(o.json ? `${JSON.stringify(tables, null, 2)}\n` : `${tables.text}\n`);
}
