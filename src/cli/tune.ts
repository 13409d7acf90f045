/** `trireme tune`: replay what a pool ran against its settings, and recommend the ones that meet a goal. */
import type { Command } from 'commander';
import { action, verb } from './common.js';

export interface TuneCli {
  pool?: string[]; since: string; trace?: string; goal: string; budget?: string; grid: string;
  json?: boolean; out?: string; traceOut?: string;
}

export function registerTune(program: Command): void {
  const run = () => verb<typeof import('./run/tune.js')>('tune');
  program.command('tune')
    .description("replay what a pool ran (job history in PostgreSQL when history.postgres is set, else the jobs Redis still holds, or --trace) against its settings (min, max, idleShutdown, targetBacklogPerSlot, keep-warm on and off) and recommend the ones that meet --goal, with the YAML to paste")
    .option('--pool <name...>', 'the pools to tune (default: every pool)')
    .option('--since <duration>', 'how far back to read what ran (Redis keeps finished jobs for a day)', '1d')
    .option('-t, --trace <csv>', 'replay this trace instead of what ran (t_seconds,task,service_seconds[,priority,delay_seconds,queue])')
    .option('--goal <goal>', 'p95<=30s (p50, p95 or p99 of the wait), cold<=50 (cold starts per 1 000 jobs), several joined by commas: the cheapest settings that meet it; or cost: the shortest p95 within --budget', 'p95<=30s')
    .option('--budget <replica-seconds|N%>', "with --goal cost: replica-seconds on the replay, or a share of what the current settings cost (default 100%)")
    .option('--grid <full|quick>', 'how many settings to try (quick: fewer idle shutdowns and backlog targets, for long histories)', 'full')
    .option('--json', 'print { pools: { P: { curves: { trireme, "fixed-idle" }, recommended, current } } } as JSON')
    .option('-o, --out <file>', 'also write the report: .html (curves, the replay, tables) or .json (the report and its page, which the dashboard draws)')
    .option('--trace-out <csv>', 'also write what was replayed as a trace (simulate -t replays it)')
    .action(action(async (o: TuneCli, cmd: Command) => run().tune(cmd, o)));
}
