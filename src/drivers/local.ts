/**
 * The local driver: replicas are `trireme worker --pool P` child processes of `trireme serve`. Each runs in its own
 * process group so that stopping a replica also reaps what its jobs started (process-isolation children, command
 * tasks): after a replica exits, its group is SIGKILLed and nothing is orphaned. A replica that exits to recycle is
 * replaced at once; one that crashes is not restarted here — the controller asks again on its next tick and the
 * driver holds starts back with an exponential delay, reporting a crash-loop instead of spinning.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Project } from '../project.js';
import { silentLogger, type Logger } from '../log.js';
import { RECYCLE_EXIT_CODE } from '../queue/worker.js';
import type { Driver, DriverReplica, PoolHealth } from './driver.js';

const CLI = fileURLToPath(new URL('../../bin/trireme.js', import.meta.url));
/** A replica that exits sooner than this after its start counts as a crash at start. */
const EARLY_EXIT_MS = 10_000;
const CRASH_LOOP_AFTER = 3;

interface Local { replica: DriverReplica; child: ChildProcess; gpus: number[]; exited: Promise<void> }

export interface LocalDriverOptions {
  project: Project;
  redisUrl: string;
  clock: Clock;
  logger?: Logger;
  /** GPU indices this machine has, handed out per replica as CUDA_VISIBLE_DEVICES. */
  gpus?: number[];
  /** Extra CLI arguments for every worker (tests shorten locks and heartbeats). */
  workerArgs?: string[];
}

export class LocalDriver implements Driver {
  readonly name = 'local';
  readonly capabilities = { choosesVictim: true, knowsReadiness: false };
  private readonly replicas = new Map<string, Local>();
  private readonly crashes = new Map<string, { count: number; lastAt: number; heldUntil: number }>();
  private readonly freeGpus: number[];
  private readonly log: Logger;
  private closing = false;

  constructor(private readonly opts: LocalDriverOptions) {
    this.freeGpus = [...(opts.gpus ?? [])];
    this.log = (opts.logger ?? silentLogger).child({ driver: 'local' });
  }

  list(pool: string): DriverReplica[] {
    return [...this.replicas.values()].filter((r) => r.replica.pool === pool).map((r) => ({ ...r.replica }));
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
      if (!this.spawn(pool)) break;
      started++;
    }
    return started;
  }

  private spawn(pool: string): boolean {
    const cfg = this.opts.project.config.pools[pool];
    const gpus: number[] = [];
    if (cfg.resources.gpu > 0) {
      if (this.freeGpus.length < cfg.resources.gpu) {
        this.log.warn({ pool, wants: cfg.resources.gpu, free: this.freeGpus.length }, 'not enough free GPUs for another replica');
        return false;
      }
      gpus.push(...this.freeGpus.splice(0, cfg.resources.gpu));
    }
    const id = `${pool}-${hostname()}-${randomUUID().slice(0, 8)}`;
    const args = [CLI, '-c', this.opts.project.configPath ?? 'trireme.yml', 'worker', '--pool', pool, '--id', id, ...(this.opts.workerArgs ?? [])];
    const env: NodeJS.ProcessEnv = { ...process.env, ...cfg.env, TRIREME_REDIS_URL: this.opts.redisUrl, TRIREME_PARENT_PID: String(process.pid) };
    if (gpus.length) env.CUDA_VISIBLE_DEVICES = gpus.join(',');
    const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] });
    const replica: DriverReplica = { id, pool, handle: `pid ${child.pid}`, startedAt: this.opts.clock.now(), phase: 'running' };
    const exited = new Promise<void>((done) => child.once('exit', (code, signal) => { this.onExit(id, code, signal); done(); }));
    this.replicas.set(id, { replica, child, gpus, exited });
    this.log.info({ pool, replica: id, pid: child.pid, gpus }, 'replica started');
    return true;
  }

  private onExit(id: string, code: number | null, signal: NodeJS.Signals | null): void {
    const local = this.replicas.get(id);
    if (!local) return;
    this.replicas.delete(id);
    this.freeGpus.push(...local.gpus);
    // Reap the replica's process group: isolated task processes must not outlive it.
    try { if (local.child.pid) process.kill(-local.child.pid, 'SIGKILL'); } catch { /* group already gone */ }
    const { pool, phase, startedAt } = local.replica;
    if (this.closing || phase === 'stopping') {
      this.log.info({ pool, replica: id, code, signal }, 'replica stopped');
      return;
    }
    if (code === RECYCLE_EXIT_CODE) {
      this.log.info({ pool, replica: id }, 'replica recycled: starting its replacement');
      this.spawn(pool);
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
    if (c && this.list(pool).some((r) => this.opts.clock.now() - r.startedAt > EARLY_EXIT_MS)) this.crashes.delete(pool);
  }

  async stop(replicaId: string, graceMs: number): Promise<void> {
    const local = this.replicas.get(replicaId);
    if (!local || local.replica.phase === 'stopping') return;
    local.replica.phase = 'stopping';
    local.child.kill('SIGTERM');
    // The worker drains within its grace; past that (plus slack) it is killed, and its jobs recover as stalled.
    const timer = setTimeout(() => { try { process.kill(-local.child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs + 10_000);
    void local.exited.then(() => clearTimeout(timer));
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const all = [...this.replicas.values()];
    for (const l of all) {
      l.replica.phase = 'stopping';
      l.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => { for (const l of all) { try { process.kill(-l.child.pid!, 'SIGKILL'); } catch { /* gone */ } } }, graceMs + 5_000);
    await Promise.all(all.map((l) => l.exited));
    clearTimeout(timer);
  }
}
