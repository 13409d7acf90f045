/**
 * The local driver: replicas are `trireme worker --pool P` child processes of `trireme serve`. Each runs in its own
 * process group so that stopping a replica also reaps what its jobs started (process-isolation runners, command
 * tasks): after a replica exits, its group is SIGKILLed and nothing is orphaned. A replica that exits to recycle is
 * replaced at once; one that crashes is not restarted here — the controller asks again on its next tick and the
 * driver holds starts back with an exponential delay, reporting a crash-loop instead of spinning.
 *
 * Standbys: a `worker --standby` process per host (for pools without an environment of their own) and per pool
 * whose `env` or GPUs must be set before its code loads, with everything loaded, that becomes a replica over IPC the
 * moment one is wanted, and is replaced at once. A cold start then costs an IPC message, not a Node boot.
 *
 * A replica of another program (a Celery worker, drivers/spec.ts `entrypoint`) runs in the config's folder under
 * `setpriv --pdeathsig TERM`, so that it gets its warm shutdown if serve dies, even by SIGKILL (it cannot watch serve
 * as Trireme's replicas do); when its drain grace is over it gets the spec's `afterGrace` signal (Celery's cold
 * shutdown), said in the log with the reason.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { Project } from '../core/project.js';
import type { Config, PoolConfig } from '../core/config.js';
import { runnersOfPool } from '../core/runners.js';
import { RECYCLE_EXIT_CODE } from '../core/replica.js';
import { cliPath } from '../system/paths.js';
import { silentLogger, type Logger } from '../system/log.js';
import type { StopReplicasDriver, DriverKind, DriverReplica, PoolHealth } from './driver.js';
import { replicaSpec, STOP_SLACK_MS, type ReplicaSpec } from './spec.js';

/** A replica that exits sooner than this after its start counts as a crash at start. */
const EARLY_EXIT_MS = 10_000;
const CRASH_LOOP_AFTER = 3;

interface Child {
  child: ChildProcess;
  gpus: number[];
  exited: Promise<void>;
  /** What to send when its drain grace is over (drivers/spec.ts); undefined: it keeps its grace itself. */
  afterGrace?: NodeJS.Signals;
  /** Set while a standby; a replica once it serves a pool. */
  replica?: DriverReplica;
  /** `id`: the replica id a pool's own standby was started with. */
  standby?: { group: string; ready: boolean; id?: string };
}

export interface LocalDriverOptions {
  project: Project;
  /** The pools this driver serves; every pool of the project when left out. */
  pools?: string[];
  redisUrl: string;
  clock: Clock;
  logger?: Logger;
  /** GPU indices this machine has, handed out per replica as CUDA_VISIBLE_DEVICES. */
  gpus?: number[];
  /** Extra CLI arguments for every worker (tests shorten locks and heartbeats). */
  workerArgs?: string[];
  /** Extra environment for every worker (serve's config snapshot). */
  env?: Record<string, string>;
  /** Keep standbys for pools that want them (default true; `standby` per pool decides which). */
  standbys?: boolean;
}

export class LocalDriver implements StopReplicasDriver {
  readonly name = 'local';
  readonly scaleIn = 'stop-replicas' as const;
  readonly placement = 'this-host' as const;
  private readonly children = new Map<string, Child>();
  private readonly crashes = new Map<string, { count: number; lastAt: number; heldUntil: number }>();
  /** Standby groups whose last standby died before it was ready: held back like crashing replicas. */
  private readonly standbyFailures = new Map<string, { count: number; heldUntil: number }>();
  private readonly freeGpus: number[];
  private readonly log: Logger;
  private closing = false;

  private readonly pools: string[];

  constructor(private readonly opts: LocalDriverOptions) {
    this.pools = opts.pools ?? Object.keys(opts.project.config.pools);
    this.freeGpus = [...(opts.gpus ?? [])];
    this.log = (opts.logger ?? silentLogger).child({ driver: 'local' });
  }

  private pool(name: string): PoolConfig { return this.opts.project.config.pools[name]; }

  async list(pool: string): Promise<DriverReplica[]> {
    return this.replicas(pool);
  }

  private replicas(pool: string): DriverReplica[] {
    return [...this.children.values()].filter((c) => c.replica?.pool === pool).map((c) => ({ ...c.replica! }));
  }

  health(pool: string): PoolHealth {
    this.forgetCrashesOnceStable(pool);
    const c = this.crashes.get(pool);
    if (!c || c.count === 0) return { status: 'ok', restarts: 0 };
    const wait = Math.max(0, c.heldUntil - this.opts.clock.now());
    const status = c.count >= CRASH_LOOP_AFTER ? 'crash-loop' : wait > 0 ? 'backoff' : 'ok';
    return { status, restarts: c.count, message: `${c.count} replica(s) exited at start; next start in ${Math.ceil(wait / 1000)}s` };
  }

  async start(pool: string, count: number): Promise<number> {
    if (this.closing) return 0;
    const c = this.crashes.get(pool);
    if (c && c.heldUntil > this.opts.clock.now()) return 0;
    let started = 0;
    for (let i = 0; i < count; i++) {
      if (!this.fromStandby(pool) && !this.spawnReplica(pool)) break;
      started++;
    }
    this.maintain();
    return started;
  }

  /** Which standby serves a pool: its own when its environment must be set before its code loads, else the host's. */
  private groupOf(name: string): string | undefined {
    return this.opts.standbys === false ? undefined : standbyGroup(this.opts.project.config, name);
  }

  /** Keeps one standby per group that some pool uses; called on every controller pass and after each start. */
  maintain(): void {
    if (this.closing) return;
    const groups = new Set(this.pools.map((p) => this.groupOf(p)).filter((g): g is string => !!g));
    for (const group of groups) {
      if ([...this.children.values()].some((c) => c.standby?.group === group)) continue;
      const f = this.standbyFailures.get(group);
      if (f && f.heldUntil > this.opts.clock.now()) continue;
      this.spawnStandby(group);
    }
  }

  /** Hands a ready standby of the pool's group the pool; false when none is ready. */
  private fromStandby(pool: string): boolean {
    const group = this.groupOf(pool);
    const s = group && [...this.children.values()].find((c) => c.standby?.group === group && c.standby.ready && c.child.connected);
    if (!s) return false;
    // A pool's own standby was started with its replica's id; the host's learns the id now.
    const id = s.standby!.id ?? newId(pool);
    s.standby = undefined;
    s.replica = { id, pool, handle: `pid ${s.child.pid}`, host: hostname(), startedAt: this.opts.clock.now(), phase: 'running' };
    s.child.send({ t: 'become', pool, id });
    // The replica says 'replica started' itself once it takes jobs; this is serve's side of it.
    this.log.info({ pool, replica: id, pid: s.child.pid, standby: group }, 'starting a replica from a standby');
    return true;
  }

  private spawnStandby(group: string): void {
    const pool = group.startsWith('pool:') ? group.slice(5) : undefined;
    const gpus = pool ? this.takeGpus(pool) : [];
    if (!gpus) return;
    const id = pool ? newId(pool) : undefined;
    // A pool's own standby is that pool's replica-to-be: its spec, with --standby; the host's serves any pool.
    const spec = pool
      ? this.spec(pool, id!, ['--standby'])
      : { args: ['-c', this.configPath, 'worker', '--standby', ...(this.opts.workerArgs ?? [])], env: this.baseEnv(), inConfigDir: false };
    const c = this.spawnChild(spec, gpus);
    c.standby = { group, ready: false, id };
    c.child.on('message', (m: { t?: string }) => {
      if (m?.t !== 'standby-ready' || !c.standby) return;
      c.standby.ready = true;
      this.standbyFailures.delete(group);
      this.log.debug({ standby: group, pid: c.child.pid }, 'standby ready');
    });
  }

  private spawnReplica(pool: string): boolean {
    const gpus = this.takeGpus(pool);
    if (!gpus) return false;
    const id = newId(pool);
    const spec = this.spec(pool, id);
    const c = this.spawnChild(spec, gpus);
    c.replica = { id, pool, handle: `pid ${c.child.pid}`, host: hostname(), startedAt: this.opts.clock.now(), phase: 'running' };
    this.log.info({ pool, replica: id, pid: c.child.pid, gpus }, 'starting a replica');
    return true;
  }

  private get configPath(): string { return this.opts.project.configPath ?? 'trireme.yml'; }

  /** What every child gets: serve's extra environment, the Redis URL, serve's pid to watch. */
  private baseEnv(): Record<string, string> {
    return { ...this.opts.env, TRIREME_REDIS_URL: this.opts.redisUrl, TRIREME_PARENT_PID: String(process.pid) };
  }

  private spec(pool: string, id: string, extraArgs: string[] = []) {
    return replicaSpec(this.opts.project, pool, {
      id, host: hostname(), redisUrl: this.opts.redisUrl, parentPid: process.pid, extraEnv: this.opts.env,
      extraArgs: [...extraArgs, ...(this.opts.workerArgs ?? [])],
    });
  }

  /** GPUs for one replica of `pool` (none when it asks for none); undefined when not enough are free. */
  private takeGpus(pool: string): number[] | undefined {
    const want = this.pool(pool).resources.gpu;
    if (want === 0) return [];
    if (this.freeGpus.length < want) {
      this.log.warn({ pool, wants: want, free: this.freeGpus.length }, 'not enough free GPUs for another replica');
      return undefined;
    }
    return this.freeGpus.splice(0, want);
  }

  private spawnChild(spec: Pick<ReplicaSpec, 'entrypoint' | 'args' | 'env' | 'inConfigDir' | 'afterGrace'>, gpus: number[]): Child {
    const full: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
    if (gpus.length) full.CUDA_VISIBLE_DEVICES = gpus.join(',');
    const [program, ...args] = spec.entrypoint ? [...withParentDeath(), ...spec.entrypoint, ...spec.args] : [process.execPath, cliPath(), ...spec.args];
    const cwd = spec.inConfigDir ? this.opts.project.baseDir : undefined;
    // Its own process group (detached): a Ctrl-C in serve's terminal reaches serve, which drains replicas in order.
    // An IPC channel for Trireme's own (the standby's `become`); another program gets none.
    const stdio: ('ignore' | 'inherit' | 'ipc')[] = ['ignore', 'inherit', 'inherit', ...(spec.entrypoint ? [] : ['ipc' as const])];
    const child = spawn(program, args, { env: full, cwd, detached: true, stdio });
    const key = `child-${child.pid}-${randomUUID().slice(0, 4)}`;
    const c: Child = { child, gpus, exited: undefined as never, afterGrace: spec.afterGrace };
    c.exited = new Promise<void>((done) => child.once('exit', (code, signal) => { this.onExit(key, code, signal); done(); }));
    child.on('error', (e) => this.log.warn({ err: e.message, program }, 'cannot start a worker process'));
    this.children.set(key, c);
    return c;
  }

  private onExit(key: string, code: number | null, signal: NodeJS.Signals | null): void {
    const c = this.children.get(key);
    if (!c) return;
    this.children.delete(key);
    this.freeGpus.push(...c.gpus);
    // Reap the process group: isolated task processes must not outlive their replica.
    try { if (c.child.pid) process.kill(-c.child.pid, 'SIGKILL'); } catch { /* group already gone */ }
    if (c.standby) {
      if (this.closing) return;
      if (!c.standby.ready) {
        const prev = this.standbyFailures.get(c.standby.group)?.count ?? 0;
        const delay = Math.min(60_000, 1_000 * 2 ** prev);
        this.standbyFailures.set(c.standby.group, { count: prev + 1, heldUntil: this.opts.clock.now() + delay });
        this.log.warn({ standby: c.standby.group, code, signal, retryInMs: delay }, 'standby exited before it was ready');
      }
      return;
    }
    const { id, pool, phase, startedAt } = c.replica!;
    if (this.closing || phase === 'stopping') {
      this.log.info({ pool, replica: id, code, signal }, 'replica stopped');
      return;
    }
    if (code === RECYCLE_EXIT_CODE) {
      this.log.info({ pool, replica: id }, 'replica recycled: starting its replacement');
      if (!this.fromStandby(pool)) this.spawnReplica(pool);
      this.maintain();
      return;
    }
    const now = this.opts.clock.now();
    const early = now - startedAt < EARLY_EXIT_MS;
    const prev = this.crashes.get(pool) ?? { count: 0, lastAt: 0, heldUntil: 0 };
    const count = early ? prev.count + 1 : 1;
    const delay = Math.min(60_000, 1_000 * 2 ** (count - 1));
    this.crashes.set(pool, { count, lastAt: now, heldUntil: now + delay });
    this.log.warn({ pool, replica: id, code, signal, crashes: count, retryInMs: delay }, count >= CRASH_LOOP_AFTER ? 'replica crash-loop' : 'replica exited unexpectedly');
  }

  /** A pool whose replica has stayed up past the early-exit window is healthy again: its crash record goes. */
  private forgetCrashesOnceStable(pool: string): void {
    const c = this.crashes.get(pool);
    if (c && this.replicas(pool).some((r) => this.opts.clock.now() - r.startedAt > EARLY_EXIT_MS)) this.crashes.delete(pool);
  }

  async stop(replicaId: string, graceMs: number): Promise<void> {
    const c = [...this.children.values()].find((x) => x.replica?.id === replicaId);
    if (!c || c.replica!.phase === 'stopping') return;
    this.drainChild(c, graceMs);
  }

  /**
   * Drains one child: SIGTERM, and the replica hands back what still runs after its pool's drainGrace. When `graceMs`
   * is shorter (serve --grace), a second SIGTERM at `graceMs` tells it to hand back now. Past that and STOP_SLACK_MS
   * it is killed, said as a warning: its running jobs stay active until their lock expires and another replica
   * takes them over.
   */
  private drainChild(c: Child, graceMs: number): void {
    if (c.replica) c.replica.phase = 'stopping';
    c.child.kill('SIGTERM');
    if (c.standby) return;
    const own = this.pool(c.replica!.pool).drainGrace;
    const grace = Math.min(own, graceMs);
    const timers = [setTimeout(() => this.kill(c, grace), grace + STOP_SLACK_MS)];
    if (grace < own || c.afterGrace) {
      timers.push(setTimeout(() => this.graceOver(c, grace, grace < own ? 'serve --grace' : 'the pool\'s drainGrace'), grace));
    }
    void c.exited.then(() => { for (const t of timers) clearTimeout(t); });
  }

  /**
   * The grace is over and the replica still runs: Trireme's hands its running jobs back at a second SIGTERM; another
   * program gets its spec's signal (a Celery worker's cold shutdown, which ends the tasks it still runs).
   */
  private graceOver(c: Child, graceMs: number, why: string): void {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return;
    const signal = c.afterGrace ?? 'SIGTERM';
    const what = c.afterGrace ? `${signal} (a cold shutdown: the tasks it still runs are cut off)` : 'the replica hands its running jobs back';
    this.log[c.afterGrace ? 'warn' : 'info']({ pool: c.replica!.pool, replica: c.replica!.id, graceMs, signal, why }, `shutdown grace over: ${what}`);
    c.child.kill(signal);
  }

  private kill(c: Child, graceMs: number): void {
    if (c.child.exitCode !== null || c.child.signalCode !== null) return;
    this.log.warn({ pool: c.replica?.pool, replica: c.replica?.id, pid: c.child.pid, graceMs },
      'replica killed: it had not stopped within its grace and the time to hand its jobs back; a job it still ran stays active until its lock expires');
    try { process.kill(-c.child.pid!, 'SIGKILL'); } catch { /* gone */ }
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const all = [...this.children.values()];
    for (const c of all) this.drainChild(c, graceMs);
    await Promise.all(all.map((c) => c.exited));
  }

  /** Stop now: a second SIGTERM makes each draining replica hand its running jobs back at once and exit (another program gets its afterGrace signal). */
  hurry(): void {
    for (const c of this.children.values()) if (c.replica && c.child.exitCode === null) c.child.kill(c.afterGrace ?? 'SIGTERM');
  }
}

let parentDeath: string[] | undefined;
/**
 * `setpriv --pdeathsig TERM --` where util-linux has it: the kernel sends the replica SIGTERM when serve dies, however
 * it dies. Without it (not Linux), a replica of another program outlives a serve killed with SIGKILL; said once.
 */
function withParentDeath(): string[] {
  if (parentDeath) return parentDeath;
  try {
    execFileSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore', timeout: 5_000 });
    parentDeath = ['setpriv', '--pdeathsig', 'TERM', '--'];
  } catch {
    parentDeath = [];
    process.emitWarning('setpriv (util-linux) is not available: a Celery replica started by serve is not stopped if serve is killed with SIGKILL');
  }
  return parentDeath;
}

function newId(pool: string): string {
  return `${pool}-${hostname()}-${randomUUID().slice(0, 8)}`;
}

/**
 * The standby group a pool's replicas start from, or undefined when it keeps none (`standby: false`, or min above 0
 * unless `standby: true`): the pool's own when its environment (or GPUs) must be set before its code loads or it
 * keeps warm runners, else the one the host shares.
 */
function standbyGroup(config: Config, name: string): string | undefined {
  const p = config.pools[name];
  if (!(p.standby ?? p.scaling.min === 0)) return undefined;
  // A pool with warm runners gets its own standby: it starts the runners while it waits, so a woken pool's first
  // job does not pay their load (the host's standby does not know which pool it will become).
  return Object.keys(p.env).length > 0 || p.resources.gpu > 0 || runnersOfPool(config, name).length > 0 ? `pool:${name}` : 'host';
}

/** The registry's entry: no settings; replicas are child processes of serve on this machine. */
export const localDriver: DriverKind = {
  scaleIn: 'stop-replicas',
  placement: 'this-host',
  pool: z.strictObject({}),
  shared: z.strictObject({}),
  standbyGroup,
  create: async (ctx) => new LocalDriver({
    project: ctx.project, pools: ctx.pools, redisUrl: ctx.redisUrl, clock: ctx.clock, logger: ctx.logger, gpus: ctx.gpus, env: ctx.childEnv, workerArgs: ctx.workerArgs,
  }),
};
