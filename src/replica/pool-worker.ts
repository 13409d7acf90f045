/**
 * One replica of a pool: consumes every queue of the pool with the pool's concurrency, runs each job in the pool's
 * isolation mode under its time limit, heartbeats into the registry, recycles itself after maxTasksPerChild jobs or
 * past maxMemory, and drains on request: stop taking jobs, let running ones finish within the grace, hand the rest
 * back to their queue.
 *
 * Its job source, heartbeat sink, cancel feed and clock are parts passed in (parts.ts); by default they are built on
 * BullMQ and Redis (redis-parts.ts). So the rules here (drain, hand-back, recycle, heartbeat, cancel, the slot gate)
 * run in unit tests in virtual time with in-memory parts.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { taskSettings, type Project, type TaskEntry } from '../core/project.js';
import type { PoolConfig } from '../core/config.js';
import type { Timer } from '../core/clock.js';
import { silentLogger, type Logger } from '../system/log.js';
import { containerId, HOST } from '../system/host.js';
import { isRedisDown } from '../redis/connection.js';
import type { ReplicaInfo, ReplicaState } from '../stores/registry.js';
import { Tallies } from './tallies.js';
import { SlotGate } from './slots.js';
import { GROUP_TASK } from '../jobs/client.js';
import { invalidPayload } from '../core/task.js';
import { AbortedError, JobAbort } from '../sandbox/executor.js';
import { PoolExecutor } from '../sandbox/pool-executor.js';
import { minDefined } from '../sandbox/command.js';
import { formatDuration, parseDuration } from '../core/units.js';
import { JobStorage } from '../storage/job-folders.js';
import { Bounce, every, HandBack, Unrecoverable, within, type ReplicaJob, type ReplicaParts } from './parts.js';
import { redisParts } from './redis-parts.js';
import { SAMPLE_MS, UsageSampler } from './usage.js';

export { RECYCLE_EXIT_CODE } from '../core/replica.js';
/** How long a replica drained with `hold` waits to be removed by its engine before it exits by itself. */
const HOLD_MS = 120_000;
/** A job that finds every slot taken comes back after this long (see slots.ts). */
const BOUNCE_MS = 200;

export interface PoolWorkerOptions {
  project: Project;
  pool: string;
  /** The Redis its parts are built on; left out only where `parts` are given. */
  redisUrl?: string;
  /** What the replica talks to (tests hand in-memory ones); built on BullMQ and Redis at `redisUrl` when left out. */
  parts?: ReplicaParts;
  id?: string;
  logger?: Logger;
  heartbeatMs?: number;
  /** BullMQ lock duration: how long a job of a dead replica stays locked before another may take it. */
  lockDuration?: number;
  /** How often this replica looks for stalled jobs of dead replicas. */
  stalledInterval?: number;
}

export type DrainReason = 'requested' | 'recycle' | 'signal';

export class PoolWorker extends EventEmitter {
  readonly id: string;
  readonly pool: PoolConfig;
  private readonly parts: ReplicaParts;
  private readonly gate: SlotGate;
  private readonly executor: PoolExecutor;
  private readonly log: Logger;
  /** Running jobs by id, each with its own abort: a cancel stops one job, a drain's hand-back stops them all. */
  private readonly running = new Map<string, JobAbort>();
  /** Set when a drain's grace is over: every job still running is handed back to its queue. */
  private handingBack = false;
  /** What this replica counted since its last heartbeat, per queue. */
  private readonly tallies = new Tallies();
  private readonly timeLimits = new Map<string, number | undefined>();
  private started = false;
  private draining = false;
  private readonly startedAt: number;
  /** When this replica began taking jobs: a job submitted before it, on its first attempt, waited for a start. */
  private readyAt = Infinity;
  private lastActivity: number;
  private jobsDone = 0;
  /** Jobs whose code ran in this process (an in-process pool's TypeScript tasks): what its maxTasksPerChild counts. */
  private jobsHere = 0;
  private stopHeartbeat?: () => void;
  private drainPromise?: Promise<void>;
  /** Ends a held drain (set while holding). */
  private release?: () => void;
  /** Called when the last running job settles (set while a drain waits). */
  private onIdle?: () => void;
  drainReason?: DrainReason;
  /** Job folders on storage.dir, when configured; `storageStatus` is what the last probe of it said. */
  private readonly storage?: JobStorage;
  private storageStatus?: string;
  private stopStorageProbe?: () => void;
  /** Set while Redis is away (logged once). */
  private redisAwaySince?: number;
  /** Ends a drain's grace: running jobs are handed back (cleared by a stop-now). */
  private graceTimer?: Timer;
  /** What the replica's process tree uses (CPU, memory, GPU memory), when its parts can read it. */
  private readonly usage?: UsageSampler;
  private stopUsage?: () => void;

  constructor(private readonly opts: PoolWorkerOptions) {
    super();
    const pool = opts.project.config.pools[opts.pool];
    if (!pool) throw new Error(`no pool "${opts.pool}"; pools: ${Object.keys(opts.project.config.pools).join(', ')}`);
    this.pool = pool;
    this.id = opts.id ?? `${opts.pool}-${HOST}-${process.pid}-${randomUUID().slice(0, 6)}`;
    this.log = (opts.logger ?? silentLogger).child({ pool: opts.pool, replica: this.id });
    if (!opts.parts && !opts.redisUrl) throw new Error('a PoolWorker needs a redisUrl (or its parts)');
    this.parts = opts.parts ?? redisParts({
      project: opts.project, pool: opts.pool, redisUrl: opts.redisUrl!, id: this.id, logger: this.log, heartbeatMs: opts.heartbeatMs,
      lockDuration: opts.lockDuration, stalledInterval: opts.stalledInterval, onError: (err, queue) => this.onQueueError(err, queue),
    });
    this.startedAt = this.lastActivity = this.parts.clock.now();
    if (this.parts.usage) this.usage = new UsageSampler(this.parts.usage, this.parts.clock, process.pid, pool.resources.gpu > 0);
    this.gate = new SlotGate(pool.concurrency);
    const st = opts.project.config.storage;
    if (st) this.storage = new JobStorage(st.dir, opts.project.baseDir);
    this.executor = new PoolExecutor({ project: opts.project, pool: opts.pool, logger: this.log });
  }

  /** Derived from what the replica does, never stored: a job that arrives during start-up shows as busy at once. */
  get state(): ReplicaState {
    return this.draining ? 'draining' : !this.started ? 'starting' : this.gate.busy > 0 ? 'busy' : 'idle';
  }

  private preparing?: Promise<void>;

  /**
   * Everything that can be done before the replica takes jobs: an isolated pool's first runner, the warm runners'
   * processes, the cancel channel, and one BullMQ worker per queue, connected but not yet fetching. A standby kept
   * for one pool does this while it waits, so that becoming a replica costs no connection set-up nor model load.
   */
  prepare(): Promise<void> {
    this.preparing ??= (async () => {
      this.executor.warm();
      await Promise.all([
        this.parts.cancels.listen((jobId) => this.running.get(jobId)?.abort(new CancelRequest())),
        this.parts.source.prepare(this.pool.queues, this.gate, (queue, job) => this.process(queue, job)),
      ]);
    })();
    return this.preparing;
  }

  async start(): Promise<void> {
    try {
      await this.prepare();
    } catch (err) {
      // A drain that began while this replica was still connecting (its parent died, a SIGTERM) closed what start()
      // waited on: that is the drain's business, not a failure to start.
      if (this.draining) return;
      throw err;
    }
    // A replica takes jobs once its warm runners have loaded (or failed to): a job it takes must not wait for a load
    // that another replica has already paid. A standby has usually loaded them before it is woken. Meanwhile it
    // heartbeats as starting, its runners loading, so that a long model load shows (and a drain reaches it).
    const { clock } = this.parts;
    const loading = this.executor.runners().some((r) => r.starting > 0) ? every(clock, this.opts.heartbeatMs ?? 1_000, () => void this.beat()) : undefined;
    if (loading) void this.beat();
    await this.executor.ready();
    loading?.();
    if (this.draining) return;
    this.readyAt = clock.now();
    this.parts.source.run();
    this.started = true;
    if (this.storage) {
      const probe = async () => {
        const was = this.storageStatus;
        this.storageStatus = await this.storage!.probe();
        if (this.storageStatus !== 'ok' && this.storageStatus !== was) this.log.error({ storage: this.storageStatus }, 'storage.dir is not writable from this replica');
      };
      await probe();
      this.stopStorageProbe = every(clock, 60_000, () => void probe());
    }
    this.stopHeartbeat = every(clock, this.opts.heartbeatMs ?? 1_000, () => void this.beat());
    if (this.usage) {
      // Not awaited: the first heartbeat goes out at once, the figures come with the next one.
      void this.usage.sample();
      this.stopUsage = every(clock, SAMPLE_MS, () => void this.usage!.sample());
    }
    await Promise.all([this.beat(), this.parts.publishManifest?.().catch((err) => this.log.warn({ err: (err as Error).message }, 'cannot publish the task manifest'))]);
    this.log.info({ queues: this.pool.queues, concurrency: this.pool.concurrency, isolation: this.pool.isolation }, 'replica started');
  }

  info(): ReplicaInfo {
    return {
      id: this.id, pool: this.opts.pool, host: HOST, container: containerId(), pid: process.pid, state: this.state,
      startedAt: this.startedAt, lastActivity: this.lastActivity, jobsDone: this.jobsDone,
      running: this.gate.busy, concurrency: this.pool.concurrency,
      ...(this.storageStatus !== undefined ? { storage: this.storageStatus } : {}),
      ...this.runnerInfo(),
      ...this.usage?.usage(),
    };
  }

  /** Its warm runners (processes, start-up cost), when it keeps any: a standby reports them too. */
  runnerInfo(): Pick<ReplicaInfo, 'runners'> {
    const runners = this.executor.runners();
    return runners.length ? { runners } : {};
  }

  /**
   * BullMQ's workers report every failed reconnect (one per queue every 2 s) while Redis is away: say the outage once,
   * and its end once, from the next heartbeat that gets through. Before the replica has started, waiting for Redis is
   * its starter's to say (the CLI names the URL and where it was set).
   */
  private onQueueError(err: Error, queue: string): void {
    if (!isRedisDown(err)) { this.log.warn({ err: err.message, queue }, 'queue worker error'); return; }
    if (this.redisAwaySince !== undefined || !this.started) return;
    this.redisAwaySince = this.parts.clock.now();
    this.log.warn({ err: err.message }, 'Redis does not answer: running jobs go on, no new ones are taken until it is back');
  }

  private async beat(): Promise<void> {
    const tallies = this.tallies.take();
    const runnerTallies = this.executor.takeRunnerTallies();
    try {
      const control = await this.parts.heartbeats.beat(this.info(), tallies, runnerTallies);
      if (this.redisAwaySince !== undefined) {
        const downMs = this.parts.clock.now() - this.redisAwaySince;
        this.redisAwaySince = undefined;
        this.log.info({ downMs, lasted: formatDuration(downMs) }, 'Redis answers again');
      }
      if (control === 'drain' || control === 'drain:hold') void this.drain(this.pool.drainGrace, 'requested', { hold: control === 'drain:hold' });
    } catch (err) {
      // Redis is away: keep the tallies for the next beat; BullMQ reconnects the workers by itself.
      this.tallies.putBack(tallies);
      this.executor.keepRunnerTallies(runnerTallies);
      this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  private async process(queue: string, job: ReplicaJob): Promise<unknown> {
    if (this.state === 'draining') throw new HandBack('draining');
    if (!this.gate.tryAcquire(queue)) throw new Bounce(BOUNCE_MS);
    const { clock, outbox } = this.parts;
    const began = clock.now();
    this.lastActivity = began;
    outbox?.begin(queue, job, began);
    const abort = new JobAbort();
    this.running.set(job.id!, abort);
    let outcome: 'completed' | 'failed' | 'cancelled' = 'failed';
    let error: unknown;
    try {
      const result = await this.runJob(queue, job, abort);
      outcome = 'completed';
      return result;
    } catch (err) {
      error = err;
      if (abort.reason instanceof CancelRequest) {
        outcome = 'cancelled';
        this.log.info({ job: job.id }, 'job cancelled');
        // A cancelled job is not retried.
        throw new Unrecoverable('cancelled');
      }
      if (this.handingBack && err instanceof AbortedError) {
        const why = (abort.reason as Error)?.message ?? 'drain grace over';
        this.log.warn({ job: job.id }, `${why}: handing the job back to its queue`);
        throw new HandBack(why);
      }
      throw err;
    } finally {
      this.running.delete(job.id!);
      this.gate.release(queue);
      if (this.gate.busy === 0) this.onIdle?.();
      this.lastActivity = clock.now();
      if (!this.handingBack) {
        this.jobsDone++;
        this.tallies.record(queue, job, outcome, began, this.lastActivity, this.readyAt);
      }
      this.checkRecycle();
      // Before the source writes the outcome: a run is never finished in Redis without its history record.
      await outbox?.record(queue, job, this.handingBack ? 'handed-back' : outcome, error, began, this.lastActivity);
    }
  }

  private async runJob(queue: string, job: ReplicaJob, abort: JobAbort): Promise<unknown> {
    if (job.name === GROUP_TASK) return this.collectGroup(job);
    const entry = this.opts.project.tasks.get(job.name);
    if (!entry) throw new Unrecoverable(`this replica does not know task "${job.name}"; is the worker running the same config as the submitter?`);
    if (this.executor.runsHere(entry)) this.jobsHere++;
    // A submitter without the task code (a routes-only client) could not check the payload: check it here.
    const schema = taskSettings(entry).schema;
    let payload: unknown = job.data;
    if (schema) {
      const parsed = schema.safeParse(job.data);
      if (!parsed.success) throw new Unrecoverable(invalidPayload(job.name, parsed.error));
      payload = parsed.data;
    }
    const workdir = this.storage ? await this.storage.prepare(job.id!) : undefined;
    // Logs and progress are written in order; the job settles only after the last line is stored.
    let pending: Promise<unknown> = Promise.resolve();
    const enqueue = (fn: () => Promise<unknown>) => { pending = pending.then(fn).catch(() => {}); };
    try {
      return await this.executor.run({
        entry, payload, jobId: job.id!, queue, attempt: job.attemptsMade + 1, abort, workdir,
        timeLimit: this.timeLimitOf(entry),
        log: (line) => enqueue(() => job.log(line)),
        progress: (value) => enqueue(() => job.updateProgress(value)),
      });
    } finally {
      await pending;
    }
  }

  /** The pool's and the task's limits, the shorter; parsed once per task, not once per job. */
  private timeLimitOf(entry: TaskEntry): number | undefined {
    if (!this.timeLimits.has(entry.name)) this.timeLimits.set(entry.name, minDefined(this.pool.timeLimit, taskTimeLimit(entry)));
    return this.timeLimits.get(entry.name);
  }

  private async collectGroup(job: ReplicaJob): Promise<unknown[]> {
    const values = await job.getChildrenValues();
    const byId = new Map(Object.entries(values).map(([key, v]) => [key.slice(key.lastIndexOf(':') + 1), v]));
    return (job.data.order as string[]).map((id) => byId.get(id));
  }

  private checkRecycle(): void {
    if (this.draining) return;
    const max = this.pool.maxTasksPerChild;
    // Isolated modes and warm runners recycle their own processes, not the replica (see the executor).
    if (max && this.jobsHere >= max) {
      this.log.info({ jobsDone: this.jobsDone, jobsHere: this.jobsHere }, 'maxTasksPerChild reached: recycling');
      void this.drain(this.pool.drainGrace, 'recycle');
    } else if (this.pool.maxMemory && this.pool.isolation !== 'process') {
      // The whole tree: the replica, and the programs its command tasks left running (as of the last sample).
      const own = process.memoryUsage.rss();
      const rss = this.usage?.treeRss(own) ?? own;
      if (rss > this.pool.maxMemory) {
        this.log.info({ rss, maxMemory: this.pool.maxMemory }, 'maxMemory passed: recycling');
        void this.drain(this.pool.drainGrace, 'recycle');
      }
    }
  }

  /**
   * Stops taking jobs; running jobs get `graceMs` to finish, then are handed back to their queue. Resolves when the
   * replica holds no job and has left the registry. Calling it again returns the same drain.
   *
   * `hold`: once drained, stay (taking no job, still heartbeating as draining) until a later drain without hold (a
   * SIGTERM from the engine that removes it), or until HOLD_MS. A container or pod that exited instead would only be
   * restarted by its engine; a held one is removed by it.
   */
  drain(graceMs: number, reason: DrainReason = 'requested', opts: { hold?: boolean } = {}): Promise<void> {
    if (!opts.hold) this.release?.();
    this.drainPromise ??= this.runDrain(graceMs, reason, opts.hold ?? false);
    return this.drainPromise;
  }

  private async runDrain(graceMs: number, reason: DrainReason, hold: boolean): Promise<void> {
    const { clock, source, heartbeats } = this.parts;
    this.drainReason = reason;
    this.draining = true;
    this.log.info({ reason, graceMs, running: this.gate.busy, hold: hold || undefined }, 'draining');
    // With Redis away, a write would only wait out its bound: skip what only Redis needs (the entry expires by itself).
    if (this.parts.connected()) await within(clock, this.beat(), 2_000, undefined);
    this.emit('draining', reason);
    // Take no new job (one fetched meanwhile goes back to its queue, see process()); running jobs go on.
    await within(clock, source.pause(), 1_000, undefined);
    this.graceTimer = clock.setTimeout(() => this.graceOver(graceMs), graceMs);
    // Wait for this replica's own jobs, not for the source's close: with Redis gone that would wait for Redis, and a
    // replica with nothing running has nothing to wait for. Past the grace (plus time to hand jobs back) go anyway:
    // the jobs recover as stalled once Redis is back.
    await within(clock, this.whenIdle(), graceMs + 5_000, undefined);
    this.graceTimer.cancel();
    await within(clock, source.close(), 2_000, undefined);
    if (hold) {
      this.log.info({ reason }, 'drained: waiting to be removed');
      await new Promise<void>((resolve) => {
        const t = clock.setTimeout(resolve, HOLD_MS);
        this.release = () => { t.cancel(); resolve(); };
      });
    }
    this.stopHeartbeat?.();
    this.stopUsage?.();
    this.stopStorageProbe?.();
    await this.executor.close?.();
    this.parts.cancels.close();
    if (this.parts.connected()) await within(clock, heartbeats.remove(this.id), 2_000, undefined);
    await within(clock, this.parts.close(), 2_000, undefined);
    this.log.info({ reason, jobsDone: this.jobsDone }, 'drained');
    this.emit('drained', reason);
  }

  /**
   * Stop now (a second signal while draining, a second Ctrl-C on serve): every running job goes back to its queue at
   * once, without waiting out the grace. Before a drain has begun, begins one with no grace.
   */
  handBackNow(): Promise<void> {
    if (!this.draining) return this.drain(0, 'signal');
    this.log.info({ running: this.gate.busy }, 'stopping now: handing running jobs back');
    this.graceTimer?.cancel();
    this.handBack('stopping now');
    return this.drainPromise!;
  }

  /** The drain's grace ran out with jobs still running: they go back to their queues, and the controller hears of it. */
  private graceOver(graceMs: number): void {
    const handedBack = this.running.size;
    if (handedBack > 0) {
      const notice = { kind: 'replica.drain_timeout' as const, at: this.parts.clock.now(), pool: this.opts.pool, replica: this.id, handedBack, graceMs };
      void within(this.parts.clock, this.parts.heartbeats.notice?.(notice) ?? Promise.resolve(), 2_000, undefined);
    }
    this.handBack('drain grace over');
  }

  private handBack(why: string): void {
    this.handingBack = true;
    for (const abort of this.running.values()) abort.abort(new Error(why));
  }

  /** Resolves once no job runs here. */
  private whenIdle(): Promise<void> {
    if (this.gate.busy === 0) return Promise.resolve();
    return new Promise((resolve) => { this.onIdle = resolve; });
  }
}

/** Why a job's abort fired when it was cancelled through the API or CLI. */
class CancelRequest extends Error {
  constructor() { super('cancelled'); this.name = 'CancelRequest'; }
}

function taskTimeLimit(entry: TaskEntry): number | undefined {
  const t = taskSettings(entry).timeLimit;
  return t === undefined ? undefined : parseDuration(t);
}
