/** `trireme simulate` and `trireme plan`: replay a workload against the config, and the capacity tables. */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { readTrace } from '../sim/trace.js';
import { BASELINES } from '../sim/policies.js';
import { formatReport, htmlReport, runReport, svgChart } from '../sim/report.js';
import { planTables } from '../sim/plan.js';
import { action, project, UsageError, type GlobalOpts } from './common.js';

export function registerSimulate(program: Command): void {
  program.command('simulate')
    .description("replay a trace against the config's autoscaling (the same decision code as live) and baselines")
    .requiredOption('-t, --trace <csv>', 'workload trace: t_seconds,task,service_seconds per line')
    .option('--policy <name...>', `policies to compare: trireme (the config's own), ${BASELINES.join(', ')}`, ['trireme', ...BASELINES])
    .option('-o, --out <file>', 'also write the report: .json, .svg (chart) or .html (table and chart)')
    .option('--json', 'print the report as JSON')
    .action(action(async (o: { trace: string; policy: string[]; out?: string; json?: boolean }, cmd: Command) => {
      const p = await project(cmd.optsWithGlobals() as GlobalOpts);
      const known = ['trireme', ...BASELINES];
      for (const name of o.policy) if (!known.includes(name)) throw new UsageError(`--policy: unknown policy "${name}"; use: ${known.join(', ')}`);
      let trace;
      try { trace = await readTrace(o.trace); } catch (e) { throw new UsageError(`--trace: ${(e as Error).message}`); }
      for (const j of trace) if (!p.router.poolFor(p.router.queueFor(j.task))) throw new UsageError(`--trace: task "${j.task}" routes to no pool of this config`);
      const span = trace.length ? trace[trace.length - 1].t : 0;
      const report = runReport(p, trace, o.policy, { seriesStepMs: o.out && !o.out.endsWith('.json') ? Math.max(1_000, (span * 1000) / 1500) : undefined });
      if (o.out) {
        const body = o.out.endsWith('.svg') ? svgChart(report) : o.out.endsWith('.html') ? htmlReport(report) : `${JSON.stringify({ ...report, policies: report.policies.map(({ accountTo: _a, ...rest }) => rest) }, null, 2)}\n`;
        await writeFile(o.out, body);
      }
      if (o.json) {
        const slim = { ...report, policies: report.policies.map(({ series: _s, events: _e, accountTo: _a, ...rest }) => rest) };
        process.stdout.write(`${JSON.stringify(slim, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatReport(report)}\n`);
      }
    }));

  program.command('plan')
    .description('capacity and cost per pool at min and max replicas, and the hosts needed')
    .option('--host-cpu <n>', 'CPUs of one host', '16')
    .option('--host-memory <size>', 'memory of one host', '64Gi')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { hostCpu: string; hostMemory: string; json?: boolean }, cmd: Command) => {
      const p = await project(cmd.optsWithGlobals() as GlobalOpts);
      const { parseSize } = await import('../core/units.js');
      const plan = planTables(p.config, { cpu: Number(o.hostCpu), memory: parseSize(o.hostMemory), gpu: p.config.capacity.gpu ?? 0 });
      process.stdout.write(o.json ? `${JSON.stringify(plan, null, 2)}\n` : `${plan.text}\n`);
    }));
}
