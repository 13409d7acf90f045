/** `trireme workers` and `trireme doctor`: what runs, and whether the whole thing is healthy. */
import type { Command } from 'commander';
import { action, verb } from './common.js';

export function registerWorkers(program: Command): void {
  const run = () => verb<typeof import('./run/workers.js')>('workers');
  program.command('workers')
    .description('every live replica: pool, host, pid or container, state, started, last activity, jobs done, running, CPU and memory (with its runners and command programs), and its warm runners')
    .option('-p, --pool <pool>', 'only this pool')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { pool?: string; json?: boolean }, cmd: Command) => run().workers(cmd, o)));

  program.command('drain')
    .description('drain a replica by id, from any host: it takes no new job, finishes its running ones within its grace, and exits')
    .argument('<id>', 'the replica id, as trireme workers lists it (a pod name on Kubernetes)')
    .option('-w, --wait', 'wait until it runs no job (or has left)')
    .option('--timeout <duration>', 'with --wait: give up after this long', '10m')
    .action(action(async (id: string, o: { wait?: boolean; timeout: string }, cmd: Command) => run().drain(cmd, id, o)));

  program.command('doctor')
    .description('health checks: config, Redis, controller lease and loop, replicas per pool, disk, memory, shared storage; exit 1 on a failure')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => run().doctor(cmd, o)));
}
