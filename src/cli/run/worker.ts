/**
 * The body of `trireme worker`: a replica, or a standby that becomes one. A standby has Node, BullMQ, the config
 * and the task modules loaded (and, when kept for one pool, its connections open, its isolated runner warm and its
 * warm runners' processes loaded); the
 * local driver sends it `{ t: 'become', pool, id }` over the IPC channel the moment a pool needs a replica, and it
 * starts consuming at once.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { constants, hostname } from 'node:os';
import { replicaSpec, type ReplicaSpec } from '../../drivers/spec.js';
import { createLogger, type Logger } from '../../system/log.js';
import { PoolWorker } from '../../replica/pool-worker.js';
import { StandbyRegistry } from '../../stores/registry.js';
import { connect, describeUrl, redisProblem } from '../../redis/connection.js';
import { within } from '../../system/deadline.js';
import { HOST } from '../../system/host.js';
import { parseInstance, RECYCLE_EXIT_CODE } from '../../core/replica.js';
import { parseDuration } from '../../core/units.js';
import type { Project } from '../../project/project.js';
import { parentGone, project, redisFor, redisSource, UsageError, type GlobalOpts } from '../common.js';
import type { WorkerCli } from '../worker.js';

/** What the local driver and a standby say to each other over IPC. */
export type StandbyMessage = { t: 'become'; pool: string; id: string };
export type StandbyReport = { t: 'standby-ready'; rss: number } | { t: 'became'; pool: string; id: string };

export async function runWorker(g: GlobalOpts, given: WorkerCli): Promise<void> {
  const o = { ...given };
  if (o.instance) {
    // A systemd template instance `POOL-N`: the pool, and an id the systemd driver knows it by.
    const inst = parseInstance(o.instance);
    if (!inst) throw new UsageError(`--instance takes POOL-N (the unit's %i, e.g. heavy-3), got "${o.instance}"`);
    o.pool ??= inst.pool;
    o.id ??= `${HOST}:${o.instance}`;
  }
  if (!o.standby && !o.pool) throw new UsageError('worker needs --pool NAME (or --standby, for a process kept ready by serve)');
  // The pool's env, where whoever started this replica did not set it (a systemd instance, a replica by hand), before
  // any task code loads: a native library reads its settings (OMP_NUM_THREADS) when it loads.
  const p = await project(g, { beforeTasks: (config) => {
    const env = o.pool && Object.hasOwn(config.pools, o.pool) ? config.pools[o.pool].env : {};
    for (const [k, v] of Object.entries(env)) process.env[k] ??= v;
  } });
  if (o.pool && !Object.hasOwn(p.config.pools, o.pool)) throw new UsageError(`no pool "${o.pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
  // A pool whose replicas are another program (a Celery worker): run it, as a systemd instance or by hand.
  const spec = o.pool ? replicaSpec(p, o.pool, { id: o.id ?? `${o.pool}-${HOST}-${randomUUID().slice(0, 8)}`, host: HOST }) : undefined;
  if (spec?.entrypoint) {
    if (o.standby) throw new UsageError(`pool "${o.pool}" runs ${spec.entrypoint.join(' ')}, which has no standby`);
    runProgram(p, spec, o);
    return;
  }
  // A replica waits for Redis rather than exit (an engine restarting it would only crash-loop through an outage),
  // watching its parent from before it connects; it says so when Redis does not answer within seconds.
  const { url, release } = await redisFor(p, { probe: false });
  const logger = createLogger('trireme-worker');
  watchParent();
  if (p.config.redis?.url) {
    void redisProblem(url).then((problem) => {
      if (problem) logger.warn({ redis: describeUrl(url), err: problem }, `Redis does not answer: waiting for it; check that redis-server runs there and that ${redisSource(p)} is right`);
    });
  }
  if (!o.standby) {
    await serveAs(make(p, o.pool!, url, logger, o), o, release);
    return;
  }
  if (!process.send) throw new UsageError('--standby runs under serve, which talks to it over IPC; run trireme worker --pool NAME by hand');
  await standby(p, url, logger, o);
}

function make(p: Project, pool: string, url: string, logger: Logger, o: WorkerCli): PoolWorker {
  return new PoolWorker({
    project: p, pool, redisUrl: url, id: o.id, logger,
    heartbeatMs: parseDuration(o.heartbeat), lockDuration: parseDuration(o.lock), stalledInterval: parseDuration(o.stalledInterval),
  });
}

/**
 * Starts consuming as `worker`, draining on SIGTERM/SIGINT and exiting with the drain's code. `release`: the private
 * Redis this worker (run by hand, no serve) started, to stop once drained.
 */
async function serveAs(worker: PoolWorker, o: WorkerCli, release?: () => Promise<void>): Promise<void> {
  const grace = o.grace ? parseDuration(o.grace) : worker.pool.drainGrace;
  // The first signal drains within the grace; a second one (serve's stop-now, or past a shorter serve --grace)
  // hands the running jobs back at once.
  let signals = 0;
  const stop = () => { void (signals++ === 0 ? worker.drain(grace, 'signal') : worker.handBackNow()); };
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  worker.once('drained', (reason) => {
    void (release?.() ?? Promise.resolve()).catch(() => {}).finally(() => process.exit(reason === 'recycle' ? RECYCLE_EXIT_CODE : 0));
  });
  // Set before start(): a parent that dies while the replica connects still takes it down, by a drain.
  onParentGone = () => { void worker.drain(grace, 'signal'); };
  // TRIREME_READY_FILE: a file that exists while the replica serves (a Kubernetes readiness probe reads it).
  const ready = process.env.TRIREME_READY_FILE;
  if (ready) worker.once('draining', () => { rmSync(ready, { force: true }); });
  await worker.start();
  if (ready) writeFileSync(ready, `${worker.id}\n`);
}

async function standby(p: Project, url: string, logger: Logger, o: WorkerCli): Promise<void> {
  // Kept for one pool (its environment is set): build the replica now, with its connections and runner warm.
  const prepared = o.pool ? make(p, o.pool, url, logger, o) : undefined;
  // Errors surface when it becomes a replica (start() awaits the same preparation).
  prepared?.prepare().catch(() => {});
  const redis = connect(url, 'trireme-standby');
  const registry = new StandbyRegistry(redis, p.config.prefix);
  const id = `standby-${hostname()}-${process.pid}`;
  // A pool's own standby reports its warm runners as they load, so an operator sees what a wake will find ready.
  const info = () => ({ id, host: hostname(), pid: process.pid, pool: o.pool ?? '', rss: process.memoryUsage.rss(), startedAt, ...prepared?.runnerInfo() });
  const startedAt = Date.now();
  const beat = () => registry.beat(info()).catch(() => {});
  await beat();
  const heartbeat = setInterval(beat, 5_000);
  // Until it becomes a replica, a signal just ends the standby: it holds no job, only its registry entry.
  const leave = () => { void within(registry.remove(id), 1_000, undefined).finally(() => process.exit(0)); };
  process.once('SIGTERM', leave);
  process.once('SIGINT', leave);
  onParentGone = leave;
  process.once('message', (m: StandbyMessage) => {
    if (m.t !== 'become') return;
    clearInterval(heartbeat);
    void registry.remove(id).finally(() => redis.disconnect());
    // A standby kept for one pool was started with the id its replica will have.
    const worker = prepared ?? make(p, m.pool, url, logger, { ...o, id: m.id });
    process.send!({ t: 'became', pool: m.pool, id: m.id } satisfies StandbyReport);
    serveAs(worker, o).catch((err) => {
      logger.error({ err: (err as Error).message, pool: m.pool }, 'standby could not become a replica');
      process.exit(1);
    });
  });
  process.send!({ t: 'standby-ready', rss: process.memoryUsage.rss() } satisfies StandbyReport);
}

/**
 * A replica that is another program (drivers/spec.ts `entrypoint`): started in the foreground with its pool's env,
 * SIGTERM and SIGINT passed on (a Celery worker's warm shutdown), and past the grace the spec's `afterGrace` signal
 * (its cold shutdown), said on stderr with the reason; this process exits with the program's code.
 */
function runProgram(p: Project, spec: ReplicaSpec, o: WorkerCli): void {
  const logger = createLogger('trireme-worker');
  const [program, ...args] = [...spec.entrypoint!, ...spec.args];
  const child = spawn(program, args, { cwd: spec.inConfigDir ? p.baseDir : undefined, env: { ...process.env, ...spec.env }, stdio: 'inherit' });
  const grace = o.grace ? parseDuration(o.grace) : spec.drainGraceMs;
  let stopping = false;
  const stop = () => {
    if (stopping) { child.kill(spec.afterGrace ?? 'SIGTERM'); return; }
    stopping = true;
    child.kill('SIGTERM');
    setTimeout(() => {
      logger.warn({ pool: spec.pool, graceMs: grace, signal: spec.afterGrace ?? 'SIGKILL' }, 'shutdown grace over: the tasks it still runs are cut off');
      child.kill(spec.afterGrace ?? 'SIGKILL');
    }, grace).unref();
  };
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  onParentGone = stop;
  watchParent();
  child.on('error', (e) => { logger.error({ pool: spec.pool, program, err: e.message }, 'cannot start the replica\'s program'); process.exit(1); });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
}

/** What to do when the parent goes: exit while nothing runs, drain once the replica serves. */
let onParentGone: () => void = () => process.exit(0);

/**
 * Started by `serve` (TRIREME_PARENT_PID, or an IPC channel): when it dies, even by SIGKILL, do not live on as an
 * orphan. The channel closing tells at once; the pid check covers a parent that gave no channel.
 */
function watchParent(): void {
  const parent = Number(process.env.TRIREME_PARENT_PID);
  process.once('disconnect', () => onParentGone());
  if (parent) setInterval(() => { if (parentGone(parent)) onParentGone(); }, 1_000).unref();
}
