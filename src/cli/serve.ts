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
import { action, project, redisFor, UsageError, type GlobalOpts } from './common.js';
import { createApi, type Api } from '../api/server.js';
import { Auth } from '../api/auth.js';
import { TriremeClient } from '../queue/client.js';
import { startDemo } from './demo.js';

/** GPU indices from nvidia-smi, or none. */
function detectGpus(): number[] {
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return out.split('\n').filter((l) => l.startsWith('GPU ')).map((_, i) => i);
  } catch { return []; }
}

export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the controller and local worker replicas for every pool, the HTTP API, /metrics and the dashboard')
    .option('--grace <duration>', 'on shutdown, how long replicas may finish running jobs', '30s')
    .option('--host <host>', 'API and dashboard address (default: api.host, 127.0.0.1); beyond loopback needs a token')
    .option('--port <port>', 'API and dashboard port (default: api.port, 7070; 0 picks a free one)')
    .option('--no-api', 'run the controller and workers without the HTTP API and dashboard')
    .option('--demo', 'also submit a built-in bursty workload to every pool (for a first look at the dashboard)')
    .action(action(async (o: { grace: string; host?: string; port?: string; api: boolean; demo?: boolean }, cmd: Command) => {
      const p = await project(cmd.optsWithGlobals() as GlobalOpts);
      const { url, embedded } = await redisFor(p, { owned: true });
      const logger = createLogger('trireme');
      const gpus = detectGpus();
      const driver = new LocalDriver({ project: p, redisUrl: url, clock: systemClock, logger, gpus });
      let onReconcile: ((s: number) => void) | undefined;
      const controller = new Controller({ project: p, redisUrl: url, driver, clock: systemClock, logger, onReconcile: (s) => onReconcile?.(s) });
      const port = o.port === undefined ? p.config.api.port : Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port takes a port number from 0 to 65535, got "${o.port}"`);
      const host = o.host ?? p.config.api.host;
      // Check the bind before anything starts, so a refused config leaves nothing running.
      if (o.api) new Auth(p.config.auth).checkBind(host);
      const { parseDuration } = await import('../core/units.js');
      const grace = parseDuration(o.grace);
      let api: Api | undefined;
      const demo = new AbortController();
      let demoClient: TriremeClient | undefined;
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down: draining replicas');
        // Replicas get their grace; past it (and the driver's kill) nothing may keep serve from exiting.
        setTimeout(() => { logger.error('shutdown took too long: exiting'); process.exit(1); }, grace + 20_000).unref();
        demo.abort();
        await demoClient?.close().catch(() => {});
        await api?.close().catch(() => {});
        await controller.stop(grace);
        await embedded?.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      // Run under a supervisor that set TRIREME_PARENT_PID (tests do): when it dies, shut down rather than linger.
      const parent = Number(process.env.TRIREME_PARENT_PID);
      if (parent) setInterval(() => { if (process.ppid !== parent) void stop('parent gone'); }, 1_000).unref();
      await controller.start();
      let address: string | undefined;
      if (o.api) {
        api = await createApi({ project: p, redisUrl: url, controller, driver, logger });
        onReconcile = (s) => api!.metrics.loopDuration.observe(s);
        address = await api.listen(host, port);
        process.stderr.write(`trireme: dashboard and API at ${address}/  (metrics: ${address}/metrics, API document: ${address}/openapi.json)\n`);
      }
      if (o.demo) {
        demoClient = new TriremeClient(p, url);
        for (const plan of startDemo(p, demoClient, logger, { signal: demo.signal })) process.stderr.write(`trireme: demo workload: ${plan}\n`);
      }
      logger.info({ pools: Object.keys(p.config.pools), redis: url.replace(/:[^:@/]*@/, ':***@'), gpus: gpus.length, leader: controller.isLeader, api: address }, 'trireme serve running');
    }));
}
