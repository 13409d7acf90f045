/** The body of `trireme serve`. */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../system/log.js';
import { Controller } from '../../control/controller.js';
import { systemClock } from '../../system/system-clock.js';
import { buildDrivers } from '../../drivers/index.js';
import { redisControllerState } from '../../control/redis-state.js';
import { createApi, type Api } from '../../api/server.js';
import type { EmbeddedRedis } from '../../redis/embedded.js';
import type { Housekeeping } from '../../control/housekeeping.js';
import { RedisWatch } from '../../redis/watch.js';
import { within } from '../../system/deadline.js';
import { Auth } from '../../api/auth.js';
import { TriremeClient } from '../../jobs/client.js';
import { formatDuration, formatSize, parseDuration } from '../../core/units.js';
import { roomShortfalls } from '../../core/capacity.js';
import { STOP_SLACK_MS } from '../../drivers/spec.js';
import type { Driver } from '../../drivers/driver.js';
import { writeSnapshot, type Project } from '../../project/project.js';
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

/** Why serve cannot listen on host:port, in words that say how to pick another; undefined when it can. */
async function cannotListen(host: string, port: number, configPath: string | undefined): Promise<string | undefined> {
  const { createServer } = await import('node:net');
  const code = await new Promise<string | undefined>((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
  return code === undefined ? undefined : listenProblem(host, port, code, configPath);
}

function listenProblem(host: string, port: number, code: string, configPath: string | undefined): string {
  const pick = `pick another with trireme serve --port N (0 picks a free one), or set api.port in ${configPath ?? 'the config'}`;
  if (code === 'EADDRINUSE') return `port ${port} on ${host} is taken (another trireme serve, or another program): ${pick}`;
  if (code === 'EACCES') return `port ${port} on ${host} needs privileges this process lacks: ${pick}`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${host}: it is not an address of this machine; set --host or api.host`;
  return `cannot listen on ${host}:${port} (${code}): ${pick}`;
}

/** Pools whose max this host can never hold (capacity.ts roomShortfalls), said once at start with the fix. */
function warnRoom(p: Project, drivers: Record<string, Driver>, host: { cpu: number; memory: number; gpu: number }, logger: Logger): void {
  const overcommit = p.config.capacity.overcommit;
  for (const s of roomShortfalls(p.config, host, (pool) => drivers[pool].placement === 'this-host')) {
    const show = (n: number) => (s.by === 'cpu' ? `${Math.round(n * 100) / 100} cpu` : formatSize(n));
    logger.warn({ pool: s.pool, max: s.max, fits: s.fits, by: s.by },
      `pool ${s.pool} can never reach its max of ${s.max}: this host has room for ${s.fits} of its replicas (${show(s.room)} left beside the other pools' min replicas, ${show(s.each)} each); `
      + `set pools.${s.pool}.resources.${s.by} to what one replica really uses, or raise capacity.overcommit (now ${overcommit})`);
  }
}

export async function runServe(g: GlobalOpts, o: ServeCli): Promise<void> {
  const p = await project(g, { tasks: o.tasks });
  const port = o.port === undefined ? p.config.api.port : Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port takes a port number from 0 to 65535, got "${o.port}"`);
  const host = o.host ?? p.config.api.host;
  // Replicas on this host stop within their pool's drainGrace; serve --grace, when given, bounds that for all of them.
  const bound = o.grace !== undefined ? parseDuration(o.grace) : undefined;
  const ownGraces = Object.values(p.config.pools).filter((x) => x.driver.kind === 'local').map((x) => x.drainGrace);
  const longest = Math.max(0, ...ownGraces);
  const grace = bound === undefined ? longest : Math.min(bound, longest);
  // Every check that can refuse comes before anything starts (the private Redis first of all), so a refusal leaves
  // nothing running: the bind, and the port (a race with another program is still caught at listen, below).
  if (o.api) {
    new Auth(p.config.auth).checkBind(host);
    const problem = await cannotListen(host, port, p.configPath);
    if (problem) throw new UsageError(problem);
  }
  const logger = createLogger('trireme');
  // What was started so far, stopped in reverse on a failure to start as on a signal.
  const parts: {
    embedded?: EmbeddedRedis; supervisor?: { stop(): void }; watch?: RedisWatch; drivers?: Record<string, Driver>; controller?: Controller;
    housekeeping?: Housekeeping; api?: Api; snapshot?: string; recording?: WriteStream;
  } = {};
  const demo = new AbortController();
  let demoClient: TriremeClient | undefined;
  const redisDir = join(p.baseDir, '.trireme/redis');
  // Each step is bounded: with Redis away, a close that waits for it would wait for good.
  const shutdown = async () => {
    demo.abort();
    await within(demoClient?.close() ?? Promise.resolve(), 2_000, undefined);
    await within(parts.api?.close() ?? Promise.resolve(), 5_000, undefined);
    await parts.controller?.stop(grace);
    await within(parts.housekeeping?.stop() ?? Promise.resolve(), 10_000, undefined);
    parts.watch?.stop();
    parts.supervisor?.stop();
    await parts.embedded?.stop();
    if (parts.embedded) await rm(join(redisDir, 'owner'), { force: true });
    if (parts.snapshot) await rm(parts.snapshot, { force: true });
    await within(new Promise((done) => (parts.recording ? parts.recording.end(done) : done(undefined))), 2_000, undefined);
  };
  let stopping = false;
  let hurried = false;
  const stop = async (signal: string) => {
    if (stopping) { if (signal !== 'parent gone') hurry(signal); return; }
    stopping = true;
    logger.info({ signal, graceMs: grace }, 'shutting down: draining replicas');
    if (ownGraces.length) {
      const why = bound !== undefined && bound < longest ? 'serve --grace' : "each pool's drainGrace; serve --grace sets a shorter bound";
      process.stderr.write(`trireme: stopping: waiting up to ${formatDuration(grace)} for running jobs (${why}); Ctrl-C again to stop now\n`);
    }
    // Replicas get their grace; past it, the time to hand jobs back and the driver's kill, nothing may keep serve.
    setTimeout(() => { logger.error('shutdown took too long: exiting'); process.exit(1); }, grace + STOP_SLACK_MS + 20_000).unref();
    await shutdown();
    process.exit(0);
  };
  // A second Ctrl-C: stop now. Running jobs go back to their queues (waiting, their attempt not counted) at once.
  const hurry = (signal: string) => {
    if (hurried) return;
    hurried = true;
    process.stderr.write('trireme: stopping now: running jobs go back to their queues\n');
    logger.warn({ signal }, 'stopping now: replicas hand their running jobs back');
    for (const d of new Set(Object.values(parts.drivers ?? {}))) d.hurry?.();
  };
  // From here on, a signal stops what was started so far (a Ctrl-C while the private Redis starts included).
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Run under a supervisor that set TRIREME_PARENT_PID (tests do): when it dies, shut down rather than linger. It
  // need not be the direct parent (npx and shells sit between), so its liveness is what counts.
  const parent = Number(process.env.TRIREME_PARENT_PID);
  if (parent) setInterval(() => { if (parentGone(parent)) void stop('parent gone'); }, 1_000).unref();
  let address: string | undefined;
  let gpus: number[] = [];
  let url: string;
  try {
    const found = await redisFor(p, { owned: true });
    url = found.url;
    parts.embedded = found.embedded;
    // The private Redis (no redis.url configured): this serve owns it, restarts it if it dies, and stops it last,
    // also one it found running (a serve that crashed, a command still using it): it is said, not reused silently.
    if (parts.embedded) {
      const { superviseEmbeddedRedis, claimOwner } = await import('../../redis/embedded.js');
      if (!parts.embedded.started) {
        const { shutdownRedis } = await import('../../redis/ownership.js');
        const { describeUrl } = await import('../../redis/connection.js');
        process.stderr.write(`trireme: using the private redis-server already running at ${describeUrl(url)} (data in ${redisDir}); this serve now owns it and stops it when it exits\n`);
        parts.embedded = { ...parts.embedded, stop: () => shutdownRedis(url) };
      }
      await claimOwner(redisDir);
      parts.supervisor = superviseEmbeddedRedis(redisDir, url, {
        log: (level, msg, fields) => logger[level](fields ?? {}, msg),
        onRestart: (r) => { parts.embedded = r; },
      });
    }
    // Redis going away (and coming back) is said once each way; /readyz says why it is not ready meanwhile.
    parts.watch = new RedisWatch({ url, clock: systemClock, logger });
    parts.watch.start();
    gpus = detectGpus();
    // The config as validated here, for the replicas this serve starts (see writeSnapshot).
    const runDir = join(p.baseDir, '.trireme/run');
    await mkdir(runDir, { recursive: true });
    parts.snapshot = join(runDir, `config-${process.pid}.json`);
    const drivers = parts.drivers = await buildDrivers({ project: p, redisUrl: url, clock: systemClock, logger, gpus, childEnv: await writeSnapshot(p, parts.snapshot) });
    const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
    const cfg = p.config;
    const state = redisControllerState(url, {
      prefix: cfg.prefix, holder: id, leaseTtlMs: cfg.controller.leaseTtl, eventsKept: cfg.controller.eventsKept,
      pools: cfg.pools, intervalMs: cfg.controller.interval, clock: systemClock, logger,
    });
    let onReconcile: ((s: number) => void) | undefined;
    let onDroppedWrite: ((what: 'event' | 'decisions' | 'learned', pool: string) => void) | undefined;
    // Read once: a host short of file descriptors can report no CPUs at all, which must not shrink every pool.
    const machine = { cpu: availableParallelism(), memory: totalmem(), gpu: gpus.length };
    warnRoom(p, drivers, machine, logger);
    // --record: the machine first, then one line per pass, so that a replay builds the same limits (test/integration/replay.test.ts).
    const recording = parts.recording = o.record ? createWriteStream(o.record) : undefined;
    recording?.write(`${JSON.stringify({ host: machine })}\n`);
    const controller = new Controller({
      project: p, state, drivers, clock: systemClock, logger, id, host: machine,
      onReconcile: (s) => onReconcile?.(s), onDroppedWrite: (what, pool) => onDroppedWrite?.(what, pool),
      onPass: recording && ((input, plans) => recording.write(`${JSON.stringify({ input, plans })}\n`)),
    });
    parts.controller = controller;
    await controller.start();
    const { startHousekeeping } = await import('../../control/housekeeping.js');
    parts.housekeeping = await startHousekeeping({ project: p, redisUrl: url, logger, clock: systemClock, isLeader: () => controller.isLeader });
    if (o.api) {
      const watch = parts.watch;
      const api = parts.api = await createApi({ project: p, redisUrl: url, controller, logger, redisOutage: () => watch.outage });
      onReconcile = (s) => api.metrics.loopDuration.observe(s);
      onDroppedWrite = (what, pool) => api.metrics.droppedWrites.inc({ what, pool });
      address = await api.listen(host, port).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL' ? new UsageError(listenProblem(host, port, e.code, p.configPath)) : e;
      });
      process.stderr.write(`trireme: dashboard and API at ${address}/  (metrics: ${address}/metrics, API document: ${address}/openapi.json)\n`);
    }
  } catch (err) {
    // Nothing this serve started outlives a failed start: replicas, the private Redis, the snapshot.
    stopping = true;
    await shutdown().catch(() => {});
    throw err;
  }
  if (o.demo) {
    demoClient = new TriremeClient(p, url);
    for (const plan of startDemo(p, demoClient, logger, { signal: demo.signal })) process.stderr.write(`trireme: demo workload: ${plan}\n`);
  }
  logger.info({ pools: Object.keys(p.config.pools), redis: url.replace(/:[^:@/]*@/, ':***@'), gpus: gpus.length, leader: parts.controller.isLeader, api: address }, 'trireme serve running');
}
