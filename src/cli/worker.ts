/** `trireme worker --pool NAME`: one replica of a pool, in the foreground (a Celery pool's worker for a Celery pool). SIGTERM/SIGINT drain it. */
import { Option, type Command } from 'commander';
import { RECYCLE_EXIT_CODE } from '../core/replica.js';
import { action, globals, verb } from './common.js';

export interface WorkerCli { pool?: string; standby?: boolean; instance?: string; id?: string; grace?: string; heartbeat: string; lock: string; stalledInterval: string }

export function registerWorker(program: Command): void {
  program.command('worker')
    .description('run one replica of a pool: consume its queues until SIGTERM, then drain (a Celery pool: run its Celery worker, SIGTERM passed on, SIGQUIT past the grace)')
    .option('-p, --pool <name>', 'the pool to serve (with --standby: the one pool this standby is kept for)')
    .option('--standby', 'load the project and wait, ready, until the process that started it (serve) names the pool to serve')
    .option('--instance <POOL-N>', 'a systemd template instance (trireme-worker@%i): serve POOL as the replica <host>:POOL-N')
    .option('--id <id>', 'replica id (default: <pool>-<host>-<pid>-<random>)')
    .option('--grace <duration>', "how long running jobs may finish after SIGTERM before they are handed back (default: the pool's drainGrace)")
    .option('--heartbeat <duration>', 'heartbeat interval', '1s')
    // From the environment too: a systemd unit or a pod sets them for every replica of a host.
    .addOption(new Option('--lock <duration>', "how long a dead or cut-off replica's job stays locked before another replica takes it over").env('TRIREME_LOCK_DURATION').default('30s'))
    .addOption(new Option('--stalled-interval <duration>', 'how often to look for jobs of dead replicas').env('TRIREME_STALLED_INTERVAL').default('15s'))
    .addHelpText('after', `
Exit codes: 0 after a drain, ${RECYCLE_EXIT_CODE} after recycling (maxTasksPerChild or maxMemory reached; restart it), 2 for config errors.`)
    .action(action(async (o: WorkerCli, cmd: Command) => verb<typeof import('./run/worker.js')>('worker').runWorker(globals(cmd), o)));
}
