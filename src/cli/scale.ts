/** `trireme status`, `scale`, `pause`, `resume`: thin clients of the state the controller keeps in Redis. */
import type { Command } from 'commander';
import { action, verb } from './common.js';

export function registerScale(program: Command): void {
  const run = () => verb<typeof import('./run/scale.js')>('scale');
  program.command('status')
    .description('pools at a glance: replicas by state, queue depths, the last decision and its reason')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => run().status(cmd, o)));

  program.command('scale')
    .description('pin a pool at N replicas and pause its autoscaling (undo with: trireme resume POOL)')
    .argument('<pool>').argument('<replicas>')
    .action(action(async (pool: string, n: string, _o: unknown, cmd: Command) => run().pin(cmd, pool, n)));

  program.command('pause')
    .description('pause autoscaling for a pool: it keeps its current replicas')
    .argument('<pool>')
    .action(action(async (pool: string, _o: unknown, cmd: Command) => run().toggle(cmd, pool, 'pause')));

  program.command('resume')
    .description('give a pool back to the autoscaler (clears a pinned replica count)')
    .argument('<pool>')
    .action(action(async (pool: string, _o: unknown, cmd: Command) => run().toggle(cmd, pool, 'resume')));
}
