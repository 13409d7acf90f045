/**
 * Submitting and looking up jobs. Validation happens here, at the border: unknown tasks, payloads that fail a task's
 * schema and queues served by no pool are refused before anything reaches Redis. Every submit also announces itself
 * on the wake channel so that a controller can start a replica at once for a pool at zero.
 */
import { FlowProducer, Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Project } from '../project.js';
import { parseDuration } from '../core/units.js';
import { bullConnection, connect } from './connection.js';
import { keys } from './keys.js';
import { idempotentJobId, newJobId, queueOfJobId } from './job-id.js';

export const GROUP_TASK = 'trireme.group';

export interface SubmitOptions {
  queue?: string;
  priority?: number;
  /** Milliseconds or a duration before the job may run. */
  delay?: number | string;
  idempotencyKey?: string;
  retries?: number;
}

export interface Submitted { id: string; task: string; queue: string; pool: string }

/** A refused request: `field` names what was wrong, for people and for API error bodies. */
export class SubmitError extends Error {
  constructor(readonly code: 'unknown_task' | 'invalid_payload' | 'unknown_queue' | 'invalid_option', readonly field: string, message: string) {
    super(message);
    this.name = 'SubmitError';
  }
}

export interface JobView {
  id: string;
  task: string;
  queue: string;
  pool?: string;
  state: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  progress: unknown;
  result?: unknown;
  error?: string;
  submittedAt: number;
  startedAt?: number;
  finishedAt?: number;
  parent?: string;
}

export class TriremeClient {
  readonly redis: Redis;
  private readonly queues = new Map<string, Queue>();
  private flow?: FlowProducer;
  private readonly prefix: string;

  /** `failFast`: refuse at once while Redis is away rather than queue commands until it is back (servers). */
  constructor(readonly project: Project, readonly redisUrl: string, opts: { failFast?: boolean } = {}) {
    this.redis = connect(redisUrl, 'trireme-client', opts);
    this.prefix = project.config.prefix;
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.prefix });
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  /** Routes, validates and enqueues one job. */
  async submit(task: string, payload: unknown = {}, opts: SubmitOptions = {}): Promise<Submitted> {
    const { queue, pool, jobOpts, data } = this.prepare(task, payload, opts);
    await this.queue(queue).add(task, data, jobOpts);
    await this.announce(queue);
    return { id: jobOpts.jobId!, task, queue, pool };
  }

  /**
   * Fan-out: N runs of one task under a parent job that completes when every child has, with their results in
   * submission order. The parent lives on the children's queue.
   */
  async submitGroup(task: string, payloads: unknown[], opts: SubmitOptions = {}): Promise<Submitted & { children: string[] }> {
    if (!Array.isArray(payloads) || payloads.length === 0) throw new SubmitError('invalid_option', 'payloads', 'a group needs at least one payload');
    const prepared = payloads.map((p, i) => {
      try {
        return this.prepare(task, p, { ...opts, idempotencyKey: undefined });
      } catch (e) {
        if (e instanceof SubmitError) throw new SubmitError(e.code, `payloads.${i}${e.field === 'payload' ? '' : `.${e.field}`}`, `run ${i}: ${e.message}`);
        throw e;
      }
    });
    const { queue, pool } = prepared[0];
    const parentId = opts.idempotencyKey ? idempotentJobId(queue, opts.idempotencyKey) : newJobId(queue);
    this.flow ??= new FlowProducer({ connection: this.redis, prefix: this.prefix });
    await this.flow.add({
      name: GROUP_TASK,
      queueName: queue,
      data: { task, size: payloads.length, order: prepared.map((p) => p.jobOpts.jobId) },
      opts: { jobId: parentId, removeOnComplete: { age: 86_400, count: 10_000 }, removeOnFail: { age: 7 * 86_400 } },
      children: prepared.map((p) => ({ name: task, queueName: p.queue, data: p.data, opts: p.jobOpts })),
    });
    await this.announce(queue, payloads.length);
    return { id: parentId, task, queue, pool, children: prepared.map((p) => p.jobOpts.jobId!) };
  }

  private prepare(task: string, payload: unknown, opts: SubmitOptions) {
    const entry = this.project.tasks.get(task);
    if (!entry) {
      const known = [...this.project.tasks.keys()].sort();
      throw new SubmitError('unknown_task', 'task', `unknown task "${task}"; known tasks: ${known.join(', ') || '(none: list modules under tasks: in the config)'}`);
    }
    const taskOpts = entry.kind === 'function' ? entry.definition.options : { retries: entry.command.retries, queue: entry.command.queue };
    let data = payload ?? {};
    if (entry.kind === 'function' && entry.definition.options.schema) {
      const parsed = entry.definition.options.schema.safeParse(data);
      if (!parsed.success) throw new SubmitError('invalid_payload', 'payload', `payload for "${task}" is invalid: ${parsed.error.message}`);
      data = parsed.data;
    }
    const queue = this.project.router.queueFor(task, opts.queue ?? taskOpts.queue);
    const pool = this.project.router.poolFor(queue);
    if (!pool) throw new SubmitError('unknown_queue', 'queue', `queue "${queue}" is served by no pool; use one of: ${this.project.router.queues().join(', ')}`);
    const key = opts.idempotencyKey ?? (entry.kind === 'function' ? entry.definition.options.idempotencyKey?.(data as never) : undefined);
    let delay = 0;
    if (opts.delay !== undefined) {
      try { delay = parseDuration(opts.delay); } catch (e) { throw new SubmitError('invalid_option', 'delay', (e as Error).message); }
    }
    const retries = opts.retries ?? taskOpts.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0) throw new SubmitError('invalid_option', 'retries', 'retries must be a whole number >= 0');
    const priority = opts.priority ?? taskOpts.priority;
    if (priority !== undefined && (!Number.isInteger(priority) || priority < 0 || priority > 2_097_152)) {
      throw new SubmitError('invalid_option', 'priority', 'priority must be a whole number from 0 (none) to 2097152; 1 runs first');
    }
    const jobOpts: JobsOptions = {
      jobId: key ? idempotentJobId(queue, key) : newJobId(queue),
      attempts: retries + 1,
      backoff: entry.kind === 'function' ? entry.definition.options.backoff : undefined,
      priority: priority || undefined,
      delay: delay || undefined,
      // Results are kept a day for lookups, failures a week for inspection; both bounded so Redis does not grow.
      removeOnComplete: { age: 86_400, count: 10_000 },
      removeOnFail: { age: 7 * 86_400, count: 10_000 },
    };
    return { queue, pool, jobOpts, data };
  }

  /** Counts `submitted` arrivals on a queue and wakes the controller for its pool. */
  async announce(queue: string, submitted = 1): Promise<void> {
    // One round trip: the arrival counter feeds the controller's arrival rate, the publish wakes it.
    await this.redis.pipeline().hincrby(keys.stats(this.prefix, queue), 'submitted', submitted).publish(keys.wake(this.prefix), queue).exec();
  }

  /** The queue a job id belongs to, when a pool of this project serves it. */
  queueOfJob(id: string): Queue | undefined {
    const queue = queueOfJobId(id);
    return queue && this.project.router.poolFor(queue) ? this.queue(queue) : undefined;
  }

  async getJob(id: string): Promise<JobView | undefined> {
    const queue = this.queueOfJob(id);
    if (!queue) return undefined;
    // State first, then the job: read the other way round, a job finishing in between shows as failed with no error.
    const state = await queue.getJobState(id);
    const job = await queue.getJob(id);
    if (!job) return undefined;
    const finished = state === 'completed' || state === 'failed';
    return this.view(job, job.finishedOn && !finished ? undefined : state);
  }

  /** A job as the API shows it; pass `state` when it is already known to save a round trip. */
  async view(job: Job, known?: string): Promise<JobView> {
    const state = known ?? await job.getState();
    return {
      id: job.id!,
      task: job.name,
      queue: job.queueName,
      pool: this.project.router.poolFor(job.queueName),
      state,
      payload: job.data,
      attempts: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      progress: job.progress,
      result: job.returnvalue ?? undefined,
      error: job.failedReason || undefined,
      submittedAt: job.timestamp,
      startedAt: job.processedOn || undefined,
      finishedAt: job.finishedOn || undefined,
      parent: job.parentKey,
    };
  }

  /** Waits until a job completes (its result) or fails (throws its error). */
  async waitFor(id: string, timeoutMs?: number): Promise<unknown> {
    const queue = queueOfJobId(id);
    if (!queue) throw new SubmitError('invalid_option', 'id', `"${id}" is not a Trireme job id`);
    const events = new QueueEvents(queue, { connection: bullConnection(this.redisUrl, 'trireme-client-events'), prefix: this.prefix });
    events.on('error', () => {});
    try {
      await events.waitUntilReady();
      const job = await this.queue(queue).getJob(id);
      if (!job) throw new SubmitError('invalid_option', 'id', `no job ${id}`);
      return await job.waitUntilFinished(events, timeoutMs);
    } finally {
      await events.close();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flow?.close();
    await this.redis.quit().catch(() => {});
  }
}
