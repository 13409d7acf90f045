/**
 * One replica of a pool: consumes every queue of the pool with the pool's concurrency, runs each job in the pool's
 * isolation mode under its time limit, heartbeats into the registry, recycles itself after maxTasksPerChild jobs or
 * past maxMemory, and drains on request: stop taking jobs, let running ones finish within the grace, hand the rest
 * back to their queue.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { taskSettings, type Project, type TaskEntry } from '../core/project.js';
import type { PoolConfig } from '../core/config.js';
import { silentLogger, type Logger } from '../system/log.js';
import { containerId, HOST } from '../system/host.js';
import { bullConnection, connect, isRedisDown } from '../redis/connection.js';
import { addTally, emptyTally, ReplicaRegistry, type QueueTally, type ReplicaInfo, type ReplicaState } from '../stores/registry.js';
import { keys } from '../redis/keys.js';
import { bucketIndex } from '../core/histogram.js';
import { SlotGate } from './slots.js';
import { GROUP_TASK } from '../jobs/client.js';
import { invalidPayload } from '../core/task.js';
import { AbortedError, JobAbort } from '../sandbox/executor.js';
import { PoolExecutor } from '../sandbox/pool-executor.js';
import { minDefined } from '../sandbox/command.js';
import { within } from '../system/deadline.js';
import { writeManifest } from '../jobs/manifest.js';
import { formatDuration, parseDuration } from '../core/units.js';
import { JobStorage } from '../storage/job-folders.js';
import { RunOutbox } from './run-outbox.js';

export { RECYCLE_EXIT_CODE } from '../core/replica.js';
/** How long a replica drained with `hold` waits to be removed by its engine before it exits by itself. */
const HOLD_MS = 120_000;
/** A job that finds every slot taken comes back after this long (see slots.ts). */
const BOUNCE_MS = 200;

export interface PoolWorkerOptions {
  project: Project;
  pool: string;
  redisUrl: string;
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
  private readonly redis: Redis;
  private readonly registry: ReplicaRegistry;
  private readonly workers: Worker[] = [];
  private readonly gate: SlotGate;
  private readonly executor: PoolExecutor;
  private readonly log: Logger;
  /** Running jobs by id, each with its own abort: a cancel stops one job, a drain's hand-back stops them all. */
  private readonly running = new Map<string, JobAbort>();
  /** Set when a drain's grace is over: every job still running is handed back to its queue. */
  private handingBack = false;
  /** Listens on the cancel channel. */
  private sub?: Redis;
  private readonly tallies = new Map<string, QueueTally>();
  private readonly timeLimits = new Map<string, number | undefined>();
  private started = false;
  private draining = false;
  private startedAt = Date.now();
  /** When this replica began taking jobs: a job submitted before it, on its first attempt, waited for a start. */
  private readyAt = Infinity;
  private lastActivity = Date.now();
  private jobsDone = 0;
  /** Jobs whose code ran in this process (an in-process pool's TypeScript tasks): what its maxTasksPerChild counts. */
  private jobsHere = 0;
  private heartbeat?: NodeJS.Timeout;
  private drainPromise?: Promise<void>;
  /** Ends a held drain (set while holding). */
  private release?: () => void;
  /** Called when the last running job settles (set while a drain waits). */
  private onIdle?: () => void;
  drainReason?: DrainReason;
  /** Job folders on storage.dir, when configured; `storageStatus` is what the last probe of it said. */
  private readonly storage?: JobStorage;
  private storageStatus?: string;
  private storageProbe?: NodeJS.Timeout;
  /** With history configured: where each run's record goes before its outcome is written. */
  private readonly outbox?: RunOutbox;
  /** Set while Redis is away (logged once). */
  private redisAwaySince?: number;
  /** Ends a drain's grace: running jobs are handed back (cleared by a stop-now). */
  private graceTimer?: NodeJS.Timeout;

  constructor(private readonly opts: PoolWorkerOptions) {
    super();
    const pool = opts.project.config.pools[opts.pool];
    if (!pool) throw new Error(`no pool "${opts.pool}"; pools: ${Object.keys(opts.project.config.pools).join(', ')}`);
    this.pool = pool;
    this.id = opts.id ?? `${opts.pool}-${HOST}-${process.pid}-${randomUUID().slice(0, 6)}`;
    this.redis = connect(opts.redisUrl, `trireme-replica-${this.id}`);
    this.registry = new ReplicaRegistry(this.redis, opts.project.config.prefix, Math.max(3_000, (opts.heartbeatMs ?? 1_000) * 4));
    this.gate = new SlotGate(pool.concurrency);
    this.log = (opts.logger ?? silentLogger).child({ pool: opts.pool, replica: this.id });
    const st = opts.project.config.storage;
    if (st) this.storage = new JobStorage(st.dir, opts.project.baseDir);
    if (opts.project.config.history) this.outbox = new RunOutbox(this.redis, opts.project.config.prefix, { id: this.id, pool: opts.pool, pricePerHour: pool.pricePerHour, concurrency: pool.concurrency }, this.log);
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
      this.sub = connect(this.opts.redisUrl, `trireme-replica-sub-${this.id}`);
      this.sub.on('message', (_channel, jobId: string) => this.running.get(jobId)?.abort(new CancelRequest()));
      for (const queue of this.pool.queues) {
        // A two-argument processor: BullMQ then skips its per-job AbortController, which costs throughput.
        const worker = new Worker(queue, (job, token) => this.process(queue, job, token), {
          connection: bullConnection(this.opts.redisUrl, `trireme-worker-${this.id}`),
          prefix: this.opts.project.config.prefix,
          concurrency: this.pool.concurrency,
          lockDuration: this.opts.lockDuration ?? 30_000,
          stalledInterval: this.opts.stalledInterval ?? 15_000,
          autorun: false,
        });
        worker.on('error', (err) => this.onQueueError(err, queue));
        this.gate.attach(queue, worker);
        this.workers.push(worker);
      }
      await Promise.all([this.sub.subscribe(keys.cancel(this.opts.project.config.prefix)), ...this.workers.map((w) => w.waitUntilReady())]);
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
    const loading = this.executor.runners().some((r) => r.starting > 0) ? setInterval(() => void this.beat(), this.opts.heartbeatMs ?? 1_000) : undefined;
    if (loading) void this.beat();
    await this.executor.ready();
    clearInterval(loading);
    if (this.draining) return;
    this.readyAt = Date.now();
    for (const w of this.workers) w.run().catch((err) => this.log.error({ err: (err as Error).message }, 'queue worker stopped'));
    this.started = true;
    if (this.storage) {
      const probe = async () => {
        const was = this.storageStatus;
        this.storageStatus = await this.storage!.probe();
        if (this.storageStatus !== 'ok' && this.storageStatus !== was) this.log.error({ storage: this.storageStatus }, 'storage.dir is not writable from this replica');
      };
      await probe();
      this.storageProbe = setInterval(() => void probe(), 60_000);
      this.storageProbe.unref();
    }
    this.heartbeat = setInterval(() => void this.beat(), this.opts.heartbeatMs ?? 1_000);
    await Promise.all([this.beat(), writeManifest(this.redis, this.opts.project).catch((err) => this.log.warn({ err: (err as Error).message }, 'cannot publish the task manifest'))]);
    this.log.info({ queues: this.pool.queues, concurrency: this.pool.concurrency, isolation: this.pool.isolation }, 'replica started');
  }

  info(): ReplicaInfo {
    return {
      id: this.id, pool: this.opts.pool, host: HOST, container: containerId(), pid: process.pid, state: this.state,
      startedAt: this.startedAt, lastActivity: this.lastActivity, jobsDone: this.jobsDone,
      running: this.gate.busy, concurrency: this.pool.concurrency,
      ...(this.storageStatus !== undefined ? { storage: this.storageStatus } : {}),
      ...this.runnerInfo(),
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
    this.redisAwaySince = Date.now();
    this.log.warn({ err: err.message }, 'Redis does not answer: running jobs go on, no new ones are taken until it is back');
  }

  private async beat(): Promise<void> {
    const tallies = new Map(this.tallies);
    this.tallies.clear();
    const runnerTallies = this.executor.takeRunnerTallies();
    try {
      const control = await this.registry.beat(this.info(), tallies, runnerTallies);
      if (this.redisAwaySince !== undefined) {
        const downMs = Date.now() - this.redisAwaySince;
        this.redisAwaySince = undefined;
        this.log.info({ downMs, lasted: formatDuration(downMs) }, 'Redis answers again');
      }
      if (control === 'drain' || control === 'drain:hold') void this.drain(this.pool.drainGrace, 'requested', { hold: control === 'drain:hold' });
    } catch (err) {
      // Redis is away: keep the tallies for the next beat; BullMQ reconnects the workers by itself.
      for (const [q, t] of tallies) addTally(this.tallyOf(q), t);
      this.executor.keepRunnerTallies(runnerTallies);
      this.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  /**
   * Counts one finished job into its queue's tally, in place (this runs for every job: no allocation): outcome,
   * service time, its duration bucket and, on its first attempt, its queue wait and whether it was a cold start.
   */
  private record(queue: string, job: Job, outcome: 'completed' | 'failed' | 'cancelled', began: number, ended: number): void {
    const t = this.tallyOf(queue);
    if (outcome === 'completed') t.completed++; else t.failed++;
    if (outcome === 'cancelled') t.cancelled++;
    const ms = ended - began;
    t.serviceMs += ms;
    const d = bucketIndex(ms / 1000);
    t.duration[d] = (t.duration[d] ?? 0) + 1;
    if (job.attemptsMade === 0) {
      // Waiting starts when the job became runnable: submission plus any delay it was given.
      const waitMs = Math.max(0, began - job.timestamp - (job.opts.delay ?? 0));
      const w = bucketIndex(waitMs / 1000);
      t.waits++; t.waitMs += waitMs;
      t.wait[w] = (t.wait[w] ?? 0) + 1;
      // A cold start: the job was runnable before this replica was ready, so it waited for a replica to start.
      if (job.timestamp + (job.opts.delay ?? 0) < this.readyAt) t.cold++;
    }
  }

  private tallyOf(queue: string): QueueTally {
    let t = this.tallies.get(queue);
    if (!t) this.tallies.set(queue, (t = emptyTally()));
    return t;
  }

  private async process(queue: string, job: Job, token: string | undefined): Promise<unknown> {
    if (this.state === 'draining') {
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (!this.gate.tryAcquire(queue)) {
      await job.moveToDelayed(Date.now() + BOUNCE_MS, token);
      throw new DelayedError();
    }
    const began = Date.now();
    this.lastActivity = began;
    this.outbox?.begin(queue, job, began);
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
        // Unrecoverable: a cancelled job is not retried.
        throw new UnrecoverableError('cancelled');
      }
      if (this.handingBack && err instanceof AbortedError) {
        this.log.warn({ job: job.id }, `${(abort.reason as Error)?.message ?? 'drain grace over'}: handing the job back to its queue`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw err;
    } finally {
      this.running.delete(job.id!);
      this.gate.release(queue);
      if (this.gate.busy === 0) this.onIdle?.();
      this.lastActivity = Date.now();
      if (!this.handingBack) {
        this.jobsDone++;
        this.record(queue, job, outcome, began, this.lastActivity);
      }
      this.checkRecycle();
      // Before BullMQ writes the outcome: a run is never finished in Redis without its history record.
      await this.outbox?.record(queue, job, this.handingBack ? 'handed-back' : outcome, error, began, this.lastActivity);
    }
  }

  private async runJob(queue: string, job: Job, abort: JobAbort): Promise<unknown> {
    if (job.name === GROUP_TASK) return this.collectGroup(job);
    const entry = this.opts.project.tasks.get(job.name);
    if (!entry) throw new UnrecoverableError(`this replica does not know task "${job.name}"; is the worker running the same config as the submitter?`);
    if (this.executor.runsHere(entry)) this.jobsHere++;
    // A submitter without the task code (a routes-only client) could not check the payload: check it here.
    const schema = taskSettings(entry).schema;
    let payload: unknown = job.data;
    if (schema) {
      const parsed = schema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(invalidPayload(job.name, parsed.error));
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

  private async collectGroup(job: Job): Promise<unknown[]> {
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
    } else if (this.pool.maxMemory && this.pool.isolation !== 'process' && process.memoryUsage.rss() > this.pool.maxMemory) {
      this.log.info({ rss: process.memoryUsage().rss, maxMemory: this.pool.maxMemory }, 'maxMemory passed: recycling');
      void this.drain(this.pool.drainGrace, 'recycle');
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
    this.drainReason = reason;
    this.draining = true;
    this.log.info({ reason, graceMs, running: this.gate.busy, hold: hold || undefined }, 'draining');
    // With Redis away, a write would only wait out its bound: skip what only Redis needs (the entry expires by itself).
    const redisUp = () => this.redis.status === 'ready';
    if (redisUp()) await within(this.beat(), 2_000, undefined);
    this.emit('draining', reason);
    // Take no new job (one fetched meanwhile goes back to its queue, see process()); running jobs go on.
    await within(Promise.all(this.workers.map((w) => w.pause(true))), 1_000, []);
    const timer = setTimeout(() => this.handBack('drain grace over'), graceMs);
    this.graceTimer = timer;
    // Wait for this replica's own jobs, not for BullMQ's close: with Redis gone that would wait for Redis, and a
    // replica with nothing running has nothing to wait for. Past the grace (plus time to hand jobs back) go anyway:
    // the jobs recover as stalled once Redis is back.
    await within(this.whenIdle(), graceMs + 5_000, undefined);
    clearTimeout(timer);
    await within(Promise.all(this.workers.map((w) => w.close())), 2_000, []);
    if (hold) {
      this.log.info({ reason }, 'drained: waiting to be removed');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, HOLD_MS);
        this.release = () => { clearTimeout(t); resolve(); };
      });
    }
    clearInterval(this.heartbeat);
    clearInterval(this.storageProbe);
    await this.executor.close?.();
    this.sub?.disconnect();
    if (redisUp()) {
      await within(this.registry.remove(this.id), 2_000, undefined);
      await within(this.redis.quit(), 1_000, 'OK');
    }
    this.redis.disconnect();
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
    clearTimeout(this.graceTimer);
    this.handBack('stopping now');
    return this.drainPromise!;
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
