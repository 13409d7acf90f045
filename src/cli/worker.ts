/** `trireme worker --pool NAME`: one replica of a pool, in the foreground. SIGTERM/SIGINT drain it. */
import type { Command } from 'commander';
import { createLogger } from '../log.js';
import { PoolWorker, RECYCLE_EXIT_CODE } from '../queue/worker.js';
import { parseDuration } from '../core/units.js';
import { action, project, redisFor, UsageError, type GlobalOpts } from './common.js';

export function registerWorker(program: Command): void {
  program.command('worker')
    .description('run one replica of a pool: consume its queues until SIGTERM, then drain')
    .requiredOption('-p, --pool <name>', 'the pool to serve')
    .option('--id <id>', 'replica id (default: <pool>-<host>-<pid>-<random>)')
    .option('--grace <duration>', "how long running jobs may finish after SIGTERM before they are handed back (default: the pool's drainGrace)")
    .option('--heartbeat <duration>', 'heartbeat interval', '1s')
    .option('--lock <duration>', "how long a dead replica's job stays locked before another replica takes it over", '30s')
    .option('--stalled-interval <duration>', 'how often to look for jobs of dead replicas', '15s')
    .addHelpText('after', `
Exit codes: 0 after a drain, ${RECYCLE_EXIT_CODE} after recycling (maxTasksPerChild or maxMemory reached; restart it), 2 for config errors.`)
    .action(action(async (o: { pool: string; id?: string; grace?: string; heartbeat: string; lock: string; stalledInterval: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOpts;
      const p = await project(g);
      if (!p.config.pools[o.pool]) throw new UsageError(`no pool "${o.pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
      const { url } = await redisFor(p);
      const logger = createLogger('trireme-worker');
      const worker = new PoolWorker({
        project: p, pool: o.pool, redisUrl: url, id: o.id, logger,
        heartbeatMs: parseDuration(o.heartbeat), lockDuration: parseDuration(o.lock), stalledInterval: parseDuration(o.stalledInterval),
      });
      const grace = o.grace ? parseDuration(o.grace) : worker.pool.drainGrace;
      const stop = () => { void worker.drain(grace, 'signal'); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      worker.once('drained', (reason) => process.exit(reason === 'recycle' ? RECYCLE_EXIT_CODE : 0));
      await worker.start();
      // Started by `serve`: if serve dies (even by SIGKILL), drain and go rather than live on as an orphan.
      const parent = Number(process.env.TRIREME_PARENT_PID);
      if (parent) setInterval(() => { if (process.ppid !== parent) stop(); }, 1_000).unref();
    }));
}
