/**
 * Submitting and looking up jobs. Validation happens here, at the border: unknown tasks, payloads that fail a task's
 * schema and queues served by no pool are refused before anything reaches Redis. Every submit also announces itself
 * on the wake channel so that a controller can start a replica at once for a pool at zero.
 *
 * A client works with the task code loaded (the CLI, the API inside serve) or from the routes alone (a web app that
 * holds only the config): then each task's queue, retries, backoff and priority come from the task manifest the
 * replicas publish (manifest.ts), and a handle made from a task's definition adds its schema and key function.
 */
import { FlowProducer, Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { taskSettings, type Project } from '../core/project.js';
import type { PayloadSchema, ResultOf, PayloadOf, TaskOptions, TaskRef } from '../core/task.js';
import { invalidPayload, isTaskDefinition } from '../core/task.js';
import { parseDuration } from '../core/units.js';
import { bullConnection, closeBullConnection, connect, type Redis } from '../redis/connection.js';
import { Keyspace } from '../redis/keyspace.js';
import { ReplicationWait, type WriteToken } from '../redis/replication.js';
import { bullmqIdOf, idempotentJobId, newJobId, publicIdOf, queueOfJobId } from './ids.js';
import { NotReplicatedError, SubmitError } from './errors.js';
import { poolKind } from '../core/pool-kind.js';
import { readManifest, type ManifestEntry } from './manifest.js';
import { cancelJob, followJob, listJobs, retryJob, type JobEvent, type JobPage, type JobQuery } from './operations.js';
import { Arrivals } from './arrivals.js';

export { NotReplicatedError, SubmitError };

export const GROUP_TASK = 'trireme.group';

/** Bounds on submit options: a job delayed past a year or retried a billion times is a mistake, not a plan. */
const MAX_DELAY_MS = 365 * 24 * 3600_000;
/** Jobs per addBulk call in submitMany: one Redis transaction each. */
const BULK_CHUNK = 1000;
const MAX_RETRIES = 1000;
/** Results are kept a day for lookups, failures a week for inspection; both bounded so Redis does not grow. Shared by every job (BullMQ only reads them). */
const KEEP_COMPLETED = Object.freeze({ age: 86_400, count: 10_000 });
const KEEP_FAILED = Object.freeze({ age: 7 * 86_400, count: 10_000 });
const NUMBERED_REFUSED = 'numbered ids are given by BullMQ once the job is stored: they cannot be used with an idempotency key or files';

/** What every job of one task submitted with one set of options shares (see TriremeClient.template). */
interface Template { queue: string; pool: string; base: JobsOptions; numbered: boolean }

export interface SubmitOptions {
  queue?: string;
  priority?: number;
  /** Milliseconds or a duration before the job may run. */
  delay?: number | string;
  idempotencyKey?: string;
  retries?: number;
  /**
   * Called with the job's id once the job is validated, before it is enqueued: the API moves uploaded files into the
   * job's folder here, so they are in place before any replica can run it. A throw enqueues nothing.
   */
  beforeEnqueue?: (id: string) => Promise<void>;
  /**
   * `numbered`: BullMQ numbers the job (its id is then `<queue>~<number>`), which costs less per job than Trireme's own
   * ids (see docs/benchmarks.md, Enqueue). The id is known only once the job is in Redis, so it cannot be used with an
   * idempotency key, files (`beforeEnqueue`) or a group.
   */
  ids?: 'numbered';
}

export interface Submitted { id: string; task: string; queue: string; pool: string }

export interface JobView<R = unknown> {
  id: string;
  task: string;
  queue: string;
  pool?: string;
  state: string;
  payload: unknown;
  attempts: number;
  maxAttempts: number;
  /**
   * How many times a replica began running it: more than attempts when a run was lost (its replica killed or cut
   * off from Redis, the job taken over after its lock expired) and the job ran again. Tasks run at least once.
   */
  starts: number;
  /** How many times it was found stalled (its replica gone) and put back in its queue. */
  stalls: number;
  progress: unknown;
  result?: R;
  error?: string;
  submittedAt: number;
  startedAt?: number;
  finishedAt?: number;
  parent?: string;
  /** "history": read from PostgreSQL, Redis no longer holding the job (no payload, progress or result then). */
  source?: 'history';
}

/** A submitted job, typed by its task's result. */
export interface JobHandle<R = unknown> extends Submitted {
  /** Waits until the job finishes: its result, or its error thrown. */
  result(timeoutMs?: number): Promise<R>;
  /** The job as it stands now; undefined once Redis no longer holds it. */
  get(): Promise<JobView<R> | undefined>;
  cancel(): Promise<{ id: string; was: string; state: string }>;
}

/** A task to submit to, typed by its payload and result. */
export interface TaskHandle<P = unknown, R = unknown> {
  readonly name: string;
  submit(payload: P, opts?: SubmitOptions): Promise<JobHandle<R>>;
}

/** What the client knows of a task before it enqueues: from the loaded code, a definition, or the manifest. */
export interface TaskSpec extends Pick<TaskOptions, 'queue' | 'retries' | 'backoff' | 'priority'> {
  schema?: PayloadSchema<unknown>;
  idempotencyKey?: (payload: never) => string;
}

/** How long a routes-only client trusts the manifest it read before reading it again. */
const MANIFEST_TTL_MS = 30_000;

export class TriremeClient {
  readonly redis: Redis;
  private readonly queues = new Map<string, Queue>();
  private flow?: FlowProducer;
  private readonly prefix: string;
  private manifest?: { at: number; tasks: Map<string, ManifestEntry> };
  private readonly arrivals: Arrivals;
  /** Where each queue's keys live (a hash tag per queue on a Redis Cluster). */
  readonly keyspace: Keyspace;
  /** redis.waitForReplicas > 0: each submit is acknowledged only once that many replicas hold it. */
  private readonly replication?: ReplicationWait;

  /** `failFast`: refuse at once while Redis is away rather than queue commands until it is back (servers). */
  constructor(readonly project: Project, readonly redisUrl: string, opts: { failFast?: boolean } = {}) {
    this.redis = connect(redisUrl, 'trireme-client', opts);
    this.prefix = project.config.prefix;
    this.keyspace = Keyspace.of(this.redis, project.config);
    this.arrivals = new Arrivals(this.redis, this.prefix);
    const { waitForReplicas, waitTimeout } = project.config.redis;
    if (waitForReplicas > 0) this.replication = new ReplicationWait(this.redis, waitForReplicas, waitTimeout);
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.keyspace.queuePrefix(name) });
      q.on('error', () => {});
      // Each result being awaited (waitFor) listens for the queue closing until it settles: a thousand awaited
      // at once are a thousand listeners, not a leak.
      q.setMaxListeners(0);
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * A typed handle: `client.task(sendEmail).submit({ to })` checks the payload against the task's type, and the
   * job's `result()` is typed. Pass the definition itself (its schema and key function then apply here too), a
   * `declareTask<P, R>(name)` reference, or a name with the task's type: `client.task<typeof sendEmail>('email.send')`
   * (a type-only import: no task code is loaded).
   */
  task<T extends TaskRef = TaskRef<unknown, unknown>>(ref: T | string): TaskHandle<PayloadOf<T>, ResultOf<T>> {
    const name = typeof ref === 'string' ? ref : ref.name;
    const def = typeof ref === 'object' && isTaskDefinition(ref) ? ref : undefined;
    return {
      name,
      submit: async (payload, opts) => this.handle<ResultOf<T>>(await this.enqueue(name, payload, opts ?? {}, def ? def.options : undefined)),
    };
  }

  /** Routes, validates and enqueues one job. */
  async submit(task: string, payload: unknown = {}, opts: SubmitOptions = {}): Promise<Submitted> {
    return this.enqueue(task, payload, opts);
  }

  private async enqueue(task: string, payload: unknown, opts: SubmitOptions, given?: TaskSpec): Promise<Submitted> {
    // Awaits only what is there to wait for: each await is a turn of the event loop on the hot path.
    ownQueue(this.project, opts.queue);
    const spec = given ?? this.loadedSpec(task) ?? await this.spec(task);
    const { queue, pool, jobOpts, data } = this.prepare(task, spec, payload, opts);
    if (opts.beforeEnqueue) await opts.beforeEnqueue(jobOpts.jobId!);
    const token = this.replication && await this.replication.before(this.keyspace.queuePrefix(queue));
    const job = await this.queue(queue).add(task, data, jobOpts);
    const id = jobOpts.jobId ?? publicIdOf(queue, job.id!);
    if (token) await this.replicated([token], [id]);
    const announced = this.announce(queue);
    if (announced) await announced;
    return { id, task, queue, pool };
  }

  /**
   * Many jobs at once, all or nothing: every payload is routed and validated first, and one refusal refuses the
   * whole list (the error names the index: `jobs.3.payload`), with nothing enqueued. Then BullMQ's addBulk, in
   * chunks, and one arrival count and wake per queue. `payloads` may be plain payloads of one task, or
   * `{ task, payload, options }` entries (`task` given as undefined).
   */
  async submitMany(task: string | undefined, payloads: unknown[], opts: SubmitOptions = {}): Promise<Submitted[]> {
    if (!Array.isArray(payloads) || payloads.length === 0) throw new SubmitError('invalid_option', 'jobs', 'send at least one job');
    const specs = new Map<string, TaskSpec>();
    // One task with one set of options (a list of payloads): its options are checked once, not once a job.
    let shared: Template | undefined;
    /** Each job as BullMQ's addBulk takes it, with its queue, pool and (once stored, where numbered) its id. */
    const prepared: { name: string; data: unknown; opts: JobsOptions; queue: string; pool: string; id?: string }[] = new Array(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      try {
        const e = task === undefined ? payloads[i] as { task?: unknown; payload?: unknown; options?: SubmitOptions } | undefined : undefined;
        const name = task ?? (e && typeof e === 'object' && typeof e.task === 'string' ? e.task : undefined);
        if (name === undefined) throw new SubmitError('unknown_task', 'task', 'each job needs a task name');
        let spec = specs.get(name);
        const options = task === undefined ? e!.options ?? {} : opts;
        ownQueue(this.project, options.queue);
        if (!spec) { spec = await this.spec(name); specs.set(name, spec); }
        const t = task === undefined ? templateOf(this.project, name, spec, options) : (shared ??= templateOf(this.project, name, spec, options));
        const job = jobOf(t, name, spec, task === undefined ? e!.payload ?? {} : payloads[i] ?? {}, options);
        prepared[i] = { name, data: job.data, opts: job.jobOpts, queue: job.queue, pool: job.pool, id: job.jobOpts.jobId };
      } catch (err) {
        if (err instanceof SubmitError) {
          const field = task === undefined ? `jobs.${i}.${err.field === 'payload' || err.field === 'task' ? err.field : `options.${err.field}`}` : `payloads.${i}${err.field === 'payload' ? '' : `.${err.field}`}`;
          throw new SubmitError(err.code, field, `job ${i}: ${err.message}`);
        }
        throw err;
      }
    }
    const byQueue = new Map<string, typeof prepared>();
    for (const p of prepared) {
      const list = byQueue.get(p.queue);
      if (list) list.push(p); else byQueue.set(p.queue, [p]);
    }
    const tokens: WriteToken[] = [];
    for (const [queue, list] of byQueue) {
      for (let i = 0; i < list.length; i += BULK_CHUNK) {
        const chunk = list.length <= BULK_CHUNK ? list : list.slice(i, i + BULK_CHUNK);
        if (this.replication) tokens.push(await this.replication.before(this.keyspace.queuePrefix(queue)));
        const jobs = await this.queue(queue).addBulk(chunk);
        // Numbered jobs have their id once BullMQ has stored them.
        chunk.forEach((p, j) => { p.id ??= publicIdOf(queue, jobs[j].id!); });
      }
    }
    if (tokens.length) await this.replicated(tokens, prepared.map((p) => p.id!));
    await Promise.all([...byQueue].map(([queue, list]) => this.announce(queue, list.length)));
    return prepared.map((p) => ({ id: p.id!, task: p.name, queue: p.queue, pool: p.pool }));
  }

  /** A handle on a submitted job. */
  handle<R = unknown>(s: Submitted): JobHandle<R> {
    return {
      ...s,
      result: (timeoutMs) => this.waitFor(s.id, timeoutMs) as Promise<R>,
      get: () => this.getJob(s.id) as Promise<JobView<R> | undefined>,
      cancel: () => this.cancel(s.id),
    };
  }

  /**
   * Fan-out: N runs of one task under a parent job that completes when every child has, with their results in
   * submission order. The parent lives on the children's queue.
   */
  async submitGroup(task: string, payloads: unknown[], opts: SubmitOptions = {}): Promise<Submitted & { children: string[] }> {
    if (!Array.isArray(payloads) || payloads.length === 0) throw new SubmitError('invalid_option', 'payloads', 'a group needs at least one payload');
    if (opts.ids !== undefined) throw new SubmitError('invalid_option', 'ids', 'a group lists its runs by id before they are stored: its runs take Trireme\'s own ids');
    ownQueue(this.project, opts.queue);
    const spec = await this.spec(task);
    const prepared = payloads.map((p, i) => {
      try {
        return this.prepare(task, spec, p, { ...opts, idempotencyKey: undefined });
      } catch (e) {
        if (e instanceof SubmitError) throw new SubmitError(e.code, `payloads.${i}${e.field === 'payload' ? '' : `.${e.field}`}`, `run ${i}: ${e.message}`);
        throw e;
      }
    });
    const { queue, pool } = prepared[0];
    const parentId = opts.idempotencyKey ? idempotentJobId(queue, opts.idempotencyKey) : newJobId(queue);
    this.flow ??= new FlowProducer({ connection: this.redis, prefix: this.prefix });
    // The parent and its runs are on one queue, so under one hash tag: the flow's transaction stays in one slot.
    const prefix = this.keyspace.queuePrefix(queue);
    const token = this.replication && await this.replication.before(prefix);
    await this.flow.add({
      name: GROUP_TASK,
      queueName: queue,
      prefix,
      data: { task, size: payloads.length, order: prepared.map((p) => p.jobOpts.jobId) },
      opts: { jobId: parentId, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED },
      children: prepared.map((p) => ({ name: task, queueName: p.queue, prefix: this.keyspace.queuePrefix(p.queue), data: p.data, opts: p.jobOpts })),
    });
    if (token) await this.replicated([token], [parentId, ...prepared.map((p) => p.jobOpts.jobId!)]);
    await this.announce(queue, payloads.length);
    return { id: parentId, task, queue, pool, children: prepared.map((p) => p.jobOpts.jobId!) };
  }

  /** What is known of a task (its loaded code, else the manifest); throws SubmitError for an unknown one. */
  taskSpec(task: string): Promise<TaskSpec> { return this.spec(task); }

  /** A task loaded in this process: its definition or command, without a turn of the event loop. */
  private loadedSpec(task: string): TaskSpec | undefined {
    return loadedTaskSpec(this.project, task);
  }

  /** What is known of a task: its loaded definition or command, else (routes-only) the manifest replicas publish. */
  private async spec(task: string): Promise<TaskSpec> {
    const loaded = this.loadedSpec(task);
    if (loaded) return loaded;
    if (this.project.tasksLoaded) {
      const known = [...this.project.tasks.keys()].sort();
      throw new SubmitError('unknown_task', 'task', `unknown task "${task}"; known tasks: ${known.join(', ') || '(none: list modules under tasks: in the config)'}`);
    }
    const now = Date.now();
    if (!this.manifest || now - this.manifest.at > MANIFEST_TTL_MS) this.manifest = { at: now, tasks: await readManifest(this.redis, this.prefix) };
    const m = this.manifest.tasks.get(task);
    // No replica has published its tasks yet: routes decide, and the replica checks the name when it runs the job.
    if (m || this.manifest.tasks.size === 0) return m ?? {};
    throw new SubmitError('unknown_task', 'task', `unknown task "${task}"; the replicas know: ${[...this.manifest.tasks.keys()].sort().join(', ')}`);
  }

  /** One job routed, validated and given its BullMQ options. */
  private prepare(task: string, spec: TaskSpec, payload: unknown, opts: SubmitOptions) {
    return prepareJob(this.project, task, spec, payload, opts);
  }

  /** Throws NotReplicatedError unless every write behind `tokens` is on redis.waitForReplicas replicas (replication.ts). */
  private async replicated(tokens: WriteToken[], ids: string[]): Promise<void> {
    const results = await Promise.all(tokens.map((t) => this.replication!.confirm(t)));
    const failed = results.find((r) => !r.ok);
    if (failed && !failed.ok) {
      throw new NotReplicatedError(ids, `${ids.length === 1 ? `job ${ids[0]} is` : `${ids.length} jobs are`} on the Redis primary but not yet known to be on ${this.replication!.replicas} replica(s) (${failed.why}): `
        + 'a failover now could lose it. Submit again with the same idempotency key (it is not enqueued twice), or check the replicas (INFO replication) and redis.waitTimeout');
    }
  }

  /** Counts arrivals on a queue and wakes the controller for its pool, a batch at a time (arrivals.ts). */
  announce(queue: string, submitted = 1): Promise<void> | undefined {
    return this.arrivals.announce(queue, submitted);
  }

  /** The queue a job id belongs to, when a pool of this project serves it. */
  queueOfJob(id: string): Queue | undefined {
    const queue = queueOfJobId(id);
    return queue && this.project.router.poolFor(queue) ? this.queue(queue) : undefined;
  }

  /** Jobs, newest first, filtered by state, queue, pool and task; page with the returned cursor. */
  list(query: JobQuery = {}): Promise<JobPage> { return listJobs(this, query); }

  /** Cancels a job: a waiting one is removed, a running one is aborted on its replica and fails as "cancelled". */
  cancel(id: string): Promise<{ id: string; was: string; state: string }> { return cancelJob(this, id); }

  /** Runs a failed or completed job again from its first attempt. */
  retry(id: string): Promise<{ id: string; was: string; state: string }> { return retryJob(this, id); }

  /** A job's log lines, progress and state changes as they happen, ending when it finishes. */
  follow(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> { return followJob(this, id, opts); }

  async getJob(id: string): Promise<JobView | undefined> {
    const queue = this.queueOfJob(id);
    if (!queue) return undefined;
    // State first, then the job: read the other way round, a job finishing in between shows as failed with no error.
    const state = await queue.getJobState(bullmqIdOf(id));
    const job = await queue.getJob(bullmqIdOf(id));
    if (!job) return undefined;
    const finished = state === 'completed' || state === 'failed';
    return this.view(job, job.finishedOn && !finished ? undefined : state);
  }

  /** A job as the API shows it; pass `state` when it is already known to save a round trip. */
  async view(job: Job, known?: string): Promise<JobView> {
    const state = known ?? await job.getState();
    return {
      id: publicIdOf(job.queueName, job.id!),
      task: job.name,
      queue: job.queueName,
      pool: this.project.router.poolFor(job.queueName),
      state,
      payload: job.data,
      attempts: job.attemptsMade,
      maxAttempts: job.opts.attempts ?? 1,
      starts: job.attemptsStarted ?? 0,
      stalls: job.stalledCounter ?? 0,
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
    // Read the events from the stream's last entry as of now, not from "$" when the listener first reads: its
    // waitUntilReady() resolves before that first read (BullMQ #2874), and a job finishing in between was missed,
    // so a wait ran out on a job long completed. With this id, an end after it is delivered, one before it is found
    // by the state check that waitUntilFinished makes once listening.
    const [last] = await this.redis.xrevrange(this.keyspace.queueKey(queue, 'events'), '+', '-', 'COUNT', 1);
    const connection = bullConnection(this.redisUrl, 'trireme-client-events');
    const events = new QueueEvents(queue, { connection, prefix: this.keyspace.queuePrefix(queue), lastEventId: last?.[0] ?? '0-0' });
    events.on('error', () => {});
    try {
      await events.waitUntilReady();
      const job = await this.queue(queue).getJob(bullmqIdOf(id));
      if (!job) throw new SubmitError('invalid_option', 'id', `no job ${id}`);
      return await job.waitUntilFinished(events, timeoutMs);
    } finally {
      await events.close();
      closeBullConnection(connection);
    }
  }

  async close(): Promise<void> {
    // Arrivals still being added up go out before the connection does.
    await this.arrivals.close();
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flow?.close();
    await this.redis.quit().catch(() => {});
  }
}

/** Routes and checks one job before it is enqueued: its queue and pool, BullMQ's options, its payload as parsed. */
function prepareJob(project: Project, task: string, spec: TaskSpec, payload: unknown, opts: SubmitOptions) {
  return jobOf(templateOf(project, task, spec, opts), task, spec, payload, opts);
}

/**
 * What every job of `task` submitted with `opts` shares: its queue and pool, and its BullMQ options checked once
 * (a list of one task's payloads checks them once, not once a job).
 */
function templateOf(project: Project, task: string, spec: TaskSpec, opts: SubmitOptions): Template {
  const queue = project.router.queueFor(task, opts.queue ?? spec.queue);
  const pool = project.router.poolFor(queue);
  if (!pool) throw new SubmitError('unknown_queue', 'queue', `queue "${queue}" is served by no pool; use one of: ${project.router.queues().join(', ')}`);
  ownQueue(project, queue);
  let delay = 0;
  if (opts.delay !== undefined) {
    try { delay = parseDuration(opts.delay); } catch (e) { throw new SubmitError('invalid_option', 'delay', (e as Error).message); }
    if (!(delay >= 0 && delay <= MAX_DELAY_MS)) throw new SubmitError('invalid_option', 'delay', `delay must be between 0 and 365 days, got ${opts.delay}`);
  }
  const retries = opts.retries ?? spec.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) throw new SubmitError('invalid_option', 'retries', `retries must be a whole number from 0 to ${MAX_RETRIES}`);
  const priority = opts.priority ?? spec.priority;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < 0 || priority > 2_097_152)) {
    throw new SubmitError('invalid_option', 'priority', 'priority must be a whole number from 0 (none) to 2097152; 1 runs first');
  }
  if (opts.ids !== undefined && opts.ids !== 'numbered') throw new SubmitError('invalid_option', 'ids', `ids takes "numbered" (or nothing, for Trireme's own ids), got "${String(opts.ids)}"`);
  const numbered = opts.ids === 'numbered';
  if (numbered && (opts.idempotencyKey || opts.beforeEnqueue)) throw new SubmitError('invalid_option', 'ids', NUMBERED_REFUSED);
  // BullMQ copies a job's options into its own object: one object serves every numbered job of the list.
  const base: JobsOptions = { attempts: retries + 1, removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED };
  if (spec.backoff) base.backoff = spec.backoff;
  if (priority) base.priority = priority;
  if (delay) base.delay = delay;
  return { queue, pool, base, numbered };
}

/** One job of a template: its payload checked against the task's schema, its id. */
function jobOf(t: Template, task: string, spec: TaskSpec, payload: unknown, opts: SubmitOptions) {
  let data: unknown = payload ?? {};
  if (spec.schema) {
    const parsed = spec.schema.safeParse(data);
    if (!parsed.success) throw new SubmitError('invalid_payload', 'payload', invalidPayload(task, parsed.error));
    data = parsed.data;
  }
  const key = opts.idempotencyKey ?? spec.idempotencyKey?.(data as never);
  if (t.numbered) {
    if (key) throw new SubmitError('invalid_option', 'ids', NUMBERED_REFUSED);
    return { queue: t.queue, pool: t.pool, jobOpts: t.base, data };
  }
  const jobOpts: JobsOptions = { ...t.base, jobId: key ? idempotentJobId(t.queue, key) : newJobId(t.queue) };
  return { queue: t.queue, pool: t.pool, jobOpts, data };
}

/**
 * What a job schedule submits, checked as a submit would be (its payload schema, the queue, retries and priority):
 * the queue and pool, and BullMQ's template for each run (jobs/schedules.ts). Throws SubmitError.
 */
export function scheduleTemplate(project: Project, task: string, spec: TaskSpec, payload: unknown, opts: Pick<SubmitOptions, 'queue' | 'priority' | 'retries'>) {
  const { queue, pool, jobOpts, data } = prepareJob(project, task, spec, payload, opts);
  // Each run gets its id and time from the scheduler.
  const template: JobsOptions = { ...jobOpts };
  delete template.jobId;
  delete template.delay;
  return { queue, pool, data, opts: template };
}

/** Refuses a queue of a pool whose tasks another system sends (a Celery pool's); said before the task name is looked up. */
function ownQueue(project: Project, queue: string | undefined): void {
  const pool = queue === undefined ? undefined : project.router.poolFor(queue);
  const p = pool === undefined ? undefined : project.config.pools[pool];
  if (p && !poolKind(p).ownQueues) {
    throw new SubmitError('unknown_queue', 'queue', `queue "${queue}" belongs to the ${p.kind} pool "${pool}", whose tasks are sent with its own client (Celery's apply_async), not by Trireme`);
  }
}

/** What a project with its task code loaded knows of a task (undefined for an unknown one). */
export function loadedTaskSpec(project: Project, task: string): TaskSpec | undefined {
  const entry = project.tasks.get(task);
  return entry && taskSettings(entry);
}
