/**
 * `trireme serve`: the controller with the local driver on this machine — reconcile loop, on-submit wake, local
 * worker replicas. With no Redis configured it runs a private redis-server for itself and its workers.
 */
import type { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { createLogger } from '../log.js';
import { Controller } from '../control/controller.js';
import { systemClock } from '../control/system-clock.js';
import { LocalDriver } from '../drivers/local.js';
import { action, project, redisFor, type GlobalOpts } from './common.js';

/** GPU indices from nvidia-smi, or none. */
function detectGpus(): number[] {
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return out.split('\n').filter((l) => l.startsWith('GPU ')).map((_, i) => i);
  } catch { return []; }
}

export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the controller and local worker replicas for every pool of the config')
    .option('--grace <duration>', 'on shutdown, how long replicas may finish running jobs', '30s')
    .action(action(async (o: { grace: string }, cmd: Command) => {
      const p = await project(cmd.optsWithGlobals() as GlobalOpts);
      const { url, embedded } = await redisFor(p, { owned: true });
      const logger = createLogger('trireme');
      const gpus = detectGpus();
      const driver = new LocalDriver({ project: p, redisUrl: url, clock: systemClock, logger, gpus });
      const controller = new Controller({ project: p, redisUrl: url, driver, clock: systemClock, logger });
      const { parseDuration } = await import('../core/units.js');
      const grace = parseDuration(o.grace);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: draining replicas');
        // Replicas get their grace; past it (and the driver's kill) nothing may keep serve from exiting.
        setTimeout(() => { logger.error('shutdown took too long: exiting'); process.exit(1); }, grace + 20_000).unref();
        await controller.stop(grace);
        await embedded?.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      await controller.start();
      logger.info({ pools: Object.keys(p.config.pools), redis: url.replace(/:[^:@/]*@/, ':***@'), gpus: gpus.length, leader: controller.isLeader }, 'trireme serve running');
    }));
}
