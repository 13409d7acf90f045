/** `trireme simulate` and `trireme plan`: replay a workload against the config, and the capacity tables. */
import type { Command } from 'commander';
import { action, verb } from './common.js';

/** Baseline policy names, repeated here so that `--help` does not load the simulator. */
export const POLICY_NAMES = ['trireme', 'seed-threshold', 'seed-stepwise', 'keda-default', 'static-max', 'fixed-idle'];

export interface SimulateCli {
  trace: string; policy: string[]; out?: string; json?: boolean; hostCpu?: string; hostMemory?: string; hostGpu?: string;
  sweep?: boolean; values?: string; baselineTimers: string;
}

export function registerSimulate(program: Command): void {
  const run = () => verb<typeof import('./run/simulate.js')>('simulate');
  program.command('simulate')
    .description("replay a trace against the config's autoscaling (the same decision code as live) and baselines")
    .requiredOption('-t, --trace <csv>', 'workload trace: t_seconds,task,service_seconds per line, optionally priority,delay_seconds,queue')
    .option('--policy <name...>', `policies to compare: ${POLICY_NAMES.join(', ')} (trireme is the config's own)`, POLICY_NAMES)
    .option('--sweep', "cost curves: run each policy at many values of its own knob (idle shutdown; KEDA's cooldownPeriod; the seed's wait before a scale-down) and print, per pool, replica-seconds against cold starts per 1 000 jobs, p95 wait and flaps")
    .option('--values <durations>', 'with --sweep: the knob values to run, comma-separated (default 5s,10s,20s,30s,1m,2m,3m,5m,10m,15m,20m,30m,45m,1h,2h)')
    .option('--baseline-timers <own|config>', "the baselines' own settings: their defaults (KEDA's 5-minute cooldownPeriod, the seed's waits), or the config's timers where they have a matching one", 'own')
    .option('-o, --out <file>', 'also write the report: .html (charts and tables), .svg (charts) or .json')
    .option('--json', 'print the report as JSON')
    .option('--host-cpu <n>', "CPUs of the host the local driver's pools share (the config's capacity.cpu wins; unlimited when neither is given)")
    .option('--host-memory <size>', "memory of that host (the config's capacity.memory wins)")
    .option('--host-gpu <n>', "GPUs of that host (the config's capacity.gpu wins)")
    .action(action(async (o: SimulateCli, cmd: Command) => run().simulate(cmd, o)));

  program.command('plan')
    .description('capacity and cost per pool at min and max replicas, and the hosts needed; warns of a local or compose pool bigger than this machine')
    .option('--host-cpu <n>', 'CPUs of one host', '16')
    .option('--host-memory <size>', 'memory of one host', '64Gi')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { hostCpu: string; hostMemory: string; json?: boolean }, cmd: Command) => run().plan(cmd, o)));
}
