/** The body of `trireme serve`. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../log.js';
import { Controller } from '../../control/controller.js';
import { systemClock } from '../../control/system-clock.js';
import { buildDrivers } from '../../drivers/index.js';
import { redisControllerState } from '../../queue/controller-state.js';
import { createApi, type Api } from '../../api/server.js';
import { Auth } from '../../api/auth.js';
import { TriremeClient } from '../../queue/client.js';
import { parseDuration } from '../../core/units.js';
import { writeSnapshot } from '../../project.js';
import { parentGone, project, redisFor, UsageError, type GlobalOpts } from '../common.js';
import { startDemo } from '../demo.js';
import type { ServeCli } from '../serve.js';

/** GPU indices from nvidia-smi, or none. */
function detectGpus(): number[] {
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return out.split('\n').filter((l) => l.startsWith('GPU ')).map((_, i) => i);
  } catch { return []; }
}

export async function runServe(g: GlobalOpts, o: ServeCli): Promise<void> {
  const p = await project(g, { tasks: o.tasks });
  const port = o.port === undefined ? p.config.api.port : Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port takes a port number from 0 to 65535, got "${o.port}"`);
  const host = o.host ?? p.config.api.host;
  // Check the bind before anything starts (the private Redis included), so a refused config leaves nothing running.
  if (o.api) new Auth(p.config.auth).checkBind(host);
  const { url, embedded: first } = await redisFor(p, { owned: true });
  let embedded = first;
  const logger = createLogger('trireme');
  // The private Redis (no redis.url configured): this serve owns it, restarts it if it dies, and stops it last.
  let supervisor: { stop(): void } | undefined;
  if (embedded) {
    const { superviseEmbeddedRedis, claimOwner } = await import('../../queue/embedded-redis.js');
    const dir = join(p.baseDir, '.trireme/redis');
    await claimOwner(dir);
    supervisor = superviseEmbeddedRedis(dir, url, {
      log: (level, msg, fields) => logger[level](fields ?? {}, msg),
      onRestart: (r) => { embedded = r; },
    });
  }
  const gpus = detectGpus();
  // The config as validated here, for the replicas this serve starts (see writeSnapshot).
  const runDir = join(p.baseDir, '.trireme/run');
  await mkdir(runDir, { recursive: true });
  const snapshot = join(runDir, `config-${process.pid}.json`);
  const drivers = await buildDrivers({ project: p, redisUrl: url, clock: systemClock, logger, gpus, childEnv: await writeSnapshot(p, snapshot) });
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
  const cfg = p.config;
  const state = redisControllerState(url, { prefix: cfg.prefix, holder: id, leaseTtlMs: cfg.controller.leaseTtl, eventsKept: cfg.controller.eventsKept });
  let onReconcile: ((s: number) => void) | undefined;
  let onDroppedWrite: ((what: 'event' | 'decisions' | 'learned', pool: string) => void) | undefined;
  // Read once: a host short of file descriptors can report no CPUs at all, which must not shrink every pool.
  const machine = { cpu: availableParallelism(), memory: totalmem(), gpu: gpus.length };
  // --record: the machine first, then one line per pass, so that a replay builds the same limits (test/integration/replay.test.ts).
  const recording = o.record ? createWriteStream(o.record) : undefined;
  recording?.write(`${JSON.stringify({ host: machine })}\n`);
  const controller = new Controller({
    project: p, state, drivers, clock: systemClock, logger, id, host: machine,
    onReconcile: (s) => onReconcile?.(s), onDroppedWrite: (what, pool) => onDroppedWrite?.(what, pool),
    onPass: recording && ((input, plans) => recording.write(`${JSON.stringify({ input, plans })}\n`)),
  });
  const grace = parseDuration(o.grace);
  let api: Api | undefined;
  const demo = new AbortController();
  let demoClient: TriremeClient | undefined;
  let stopping = false;
  // Started after the controller; a signal before that finds none.
  const started: { housekeeping?: import('../../control/housekeeping.js').Housekeeping } = {};
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
    await started.housekeeping?.stop().catch(() => {});
    supervisor?.stop();
    await embedded?.stop();
    if (embedded) await rm(join(p.baseDir, '.trireme/redis/owner'), { force: true });
    await rm(snapshot, { force: true });
    await new Promise((done) => (recording ? recording.end(done) : done(undefined)));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Run under a supervisor that set TRIREME_PARENT_PID (tests do): when it dies, shut down rather than linger. It
  // need not be the direct parent (npx and shells sit between), so its liveness is what counts.
  const parent = Number(process.env.TRIREME_PARENT_PID);
  if (parent) setInterval(() => { if (parentGone(parent)) void stop('parent gone'); }, 1_000).unref();
  await controller.start();
  const { startHousekeeping } = await import('../../control/housekeeping.js');
  started.housekeeping = await startHousekeeping({ project: p, redisUrl: url, logger, clock: systemClock, isLeader: () => controller.isLeader });
  let address: string | undefined;
  if (o.api) {
    api = await createApi({ project: p, redisUrl: url, controller, logger });
    onReconcile = (s) => api!.metrics.loopDuration.observe(s);
    onDroppedWrite = (what, pool) => api!.metrics.droppedWrites.inc({ what, pool });
    address = await api.listen(host, port);
    process.stderr.write(`trireme: dashboard and API at ${address}/  (metrics: ${address}/metrics, API document: ${address}/openapi.json)\n`);
  }
  if (o.demo) {
    demoClient = new TriremeClient(p, url);
    for (const plan of startDemo(p, demoClient, logger, { signal: demo.signal })) process.stderr.write(`trireme: demo workload: ${plan}\n`);
  }
  logger.info({ pools: Object.keys(p.config.pools), redis: url.replace(/:[^:@/]*@/, ':***@'), gpus: gpus.length, leader: controller.isLeader, api: address }, 'trireme serve running');
}
