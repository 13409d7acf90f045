/**
 * A replica's parts on BullMQ and Redis (parts.ts has the interfaces): one BullMQ Worker per queue of the pool as the
 * job source (with the queue's rate limit, BullMQ's limiter, where the config sets one), the replica registry as the
 * heartbeat sink, the cancel channel as the cancel feed, the run outbox and the task manifest; and, not Redis's, the
 * reader of what the replica's process tree uses (/proc, nvidia-smi). What the replica's handler throws (HandBack, Bounce, Unrecoverable) becomes BullMQ's own
 * moveToWait + WaitingError, moveToDelayed + DelayedError and UnrecoverableError here, and nowhere else.
 */
import { DelayedError, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Project } from '../core/project.js';
import { isClusterUrl } from '../core/redis-url.js';
import type { Logger } from '../system/log.js';
import { systemClock } from '../system/system-clock.js';
import { bullConnection, closeBullConnection, connect, type Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { Keyspace, ownPrefix } from '../redis/keyspace.js';
import { ReplicaRegistry } from '../stores/registry.js';
import { writeManifest } from '../jobs/manifest.js';
import { RunOutbox } from './run-outbox.js';
import { treeUsage } from '../system/process-tree.js';
import { gpuMemoryByPid } from '../system/gpu-memory.js';
import { Bounce, HandBack, Unrecoverable, type CancelFeed, type JobHandler, type JobSource, type ReplicaJob, type ReplicaParts } from './parts.js';
import { isNumbered, publicIdOf } from '../jobs/ids.js';
import type { SlotGate } from './slots.js';

export interface RedisPartsOptions {
  project: Project;
  pool: string;
  redisUrl: string;
  /** The replica's id (connection names, the outbox's records). */
  id: string;
  logger: Logger;
  heartbeatMs?: number;
  /** BullMQ lock duration: how long a job of a dead replica stays locked before another may take it. */
  lockDuration?: number;
  /** How often this replica looks for stalled jobs of dead replicas. */
  stalledInterval?: number;
  /** Every queue worker's errors (Redis away, a script error). */
  onError(err: Error, queue: string): void;
}

/** BullMQ Workers, one per queue, fetching for the replica's handler. */
class BullmqSource implements JobSource {
  private readonly workers: Worker[] = [];
  private connection?: ReturnType<typeof bullConnection>;

  constructor(private readonly o: RedisPartsOptions) {}

  async prepare(queues: string[], gate: SlotGate, handler: JobHandler): Promise<void> {
    const { project, redisUrl, id } = this.o;
    const limits = project.config.rateLimits ?? {};
    const connection = this.connection = bullConnection(redisUrl, `trireme-worker-${id}`);
    const keyspace = new Keyspace(project.config.prefix, isClusterUrl(redisUrl), project.config.redis.hashTags);
    for (const queue of queues) {
      // BullMQ's limiter counts in Redis, per queue: the limit holds across every replica on every host.
      const limit = Object.hasOwn(limits, queue) ? limits[queue] : undefined;
      // A two-argument processor: BullMQ then skips its per-job AbortController, which costs throughput.
      const worker = new Worker(queue, (job: Job, token?: string) => handler(queue, isNumbered(job.id!) ? asNumbered(queue, job) : job).catch((err: unknown) => settle(job, token, err)), {
        connection,
        prefix: keyspace.queuePrefix(queue),
        concurrency: gate.capacity,
        lockDuration: this.o.lockDuration ?? 30_000,
        stalledInterval: this.o.stalledInterval ?? 15_000,
        autorun: false,
        ...(limit ? { limiter: { max: limit.jobs, duration: limit.per } } : {}),
      });
      worker.on('error', (err) => this.o.onError(err, queue));
      gate.attach(queue, worker);
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  run(): void {
    for (const w of this.workers) w.run().catch((err) => this.o.logger.error({ err: (err as Error).message }, 'queue worker stopped'));
  }

  async pause(): Promise<void> { await Promise.all(this.workers.map((w) => w.pause(true))); }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    if (this.connection) closeBullConnection(this.connection);
  }
}

/**
 * A job BullMQ numbered (submitted with `ids: 'numbered'`) as the replica sees it: under its Trireme id
 * (`<queue>~<number>`, jobs/ids.ts), every call still on BullMQ's job.
 */
function asNumbered(queue: string, job: Job): ReplicaJob {
  return {
    id: publicIdOf(queue, job.id!), name: job.name, data: job.data, attemptsMade: job.attemptsMade, timestamp: job.timestamp, opts: job.opts,
    log: (line) => job.log(line), updateProgress: (v) => job.updateProgress(v), getChildrenValues: () => job.getChildrenValues(),
  };
}

/** What the handler's outcome means to BullMQ: the job handed back, bounced, failed for good, or failed as thrown. */
async function settle(job: Job, token: string | undefined, err: unknown): Promise<never> {
  if (err instanceof HandBack) {
    await job.moveToWait(token);
    throw new WaitingError();
  }
  if (err instanceof Bounce) {
    await job.moveToDelayed(Date.now() + err.ms, token);
    throw new DelayedError();
  }
  if (err instanceof Unrecoverable) throw new UnrecoverableError(err.message);
  throw err;
}

/** The cancel channel: a running job's id published by `DELETE /jobs/:id` or `trireme cancel`. */
class RedisCancels implements CancelFeed {
  private sub?: Redis;

  constructor(private readonly o: RedisPartsOptions) {}

  async listen(onCancel: (jobId: string) => void): Promise<void> {
    this.sub = connect(this.o.redisUrl, `trireme-replica-sub-${this.o.id}`);
    this.sub.on('message', (_channel, jobId: string) => onCancel(jobId));
    await this.sub.subscribe(keys.cancel(ownPrefix(this.sub, this.o.project.config.prefix)));
  }

  close(): void { this.sub?.disconnect(); }
}

/** A replica's parts on the Redis at `redisUrl`. */
export function redisParts(o: RedisPartsOptions): ReplicaParts {
  const redis = connect(o.redisUrl, `trireme-replica-${o.id}`);
  const { config } = o.project;
  const pool = config.pools[o.pool];
  const registry = new ReplicaRegistry(redis, config.prefix, Math.max(3_000, (o.heartbeatMs ?? 1_000) * 4));
  return {
    clock: systemClock,
    source: new BullmqSource(o),
    heartbeats: registry,
    cancels: new RedisCancels(o),
    outbox: config.history ? new RunOutbox(redis, config.prefix, { id: o.id, pool: o.pool, pricePerHour: pool.pricePerHour, concurrency: pool.concurrency }, o.logger) : undefined,
    usage: { tree: treeUsage, gpu: () => gpuMemoryByPid() },
    publishManifest: () => writeManifest(redis, o.project),
    connected: () => redis.status === 'ready',
    close: async () => {
      if (redis.status === 'ready') await Promise.race([redis.quit(), new Promise((r) => setTimeout(r, 1_000))]).catch(() => {});
      redis.disconnect();
    },
  };
}
