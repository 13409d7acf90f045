/**
 * Jobs after submission: listing across queues with a stable cursor, cancel (a waiting job is removed, a running one
 * is aborted on whichever replica runs it), retry, and following one job's log, progress and state until it ends.
 * The API and the CLI both call these.
 */
import type { Job } from 'bullmq';
import type { TriremeClient, JobView } from './client.js';
import { keys } from '../redis/keys.js';
import { bullmqIdOf } from './ids.js';
import { ownPrefix } from '../redis/keyspace.js';
import { poolKind } from '../core/pool-kind.js';

/** States a caller may filter on; `waiting` includes BullMQ's prioritized set. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'waiting-children', 'prioritized'] as const;
export type JobStateFilter = (typeof JOB_STATES)[number];

export interface JobQuery {
  state?: JobStateFilter[];
  queue?: string;
  pool?: string;
  task?: string;
  limit?: number;
  cursor?: string;
}

export interface JobPage { jobs: JobView[]; cursor: string | null }

/** A refused job operation, with the HTTP-ish status the API maps it to. */
export class JobError extends Error {
  /** `field`: the query field at fault (`cursor`, `queue`, `pool`); none for errors about the job itself. */
  /** `jobs_elsewhere`: a pool whose jobs another system keeps (a Celery pool's tasks, core/pool-kind.ts). */
  constructor(readonly code: 'not_found' | 'conflict' | 'invalid_cursor' | 'unknown_queue' | 'unknown_pool' | 'jobs_elsewhere', message: string, readonly field?: string) {
    super(message);
    this.name = 'JobError';
  }
}

/** BullMQ list types behind each state filter. */
const TYPES: Record<JobStateFilter, ('wait' | 'prioritized' | 'active' | 'delayed' | 'completed' | 'failed' | 'waiting-children')[]> = {
  waiting: ['wait', 'prioritized'], prioritized: ['prioritized'], active: ['active'], delayed: ['delayed'],
  completed: ['completed'], failed: ['failed'], 'waiting-children': ['waiting-children'],
};
const STATE_OF: Record<string, string> = { wait: 'waiting' };

/**
 * Newest first, merged over every (queue, state) list in scope. The cursor holds how far each list was read, so pages
 * neither repeat nor skip while jobs keep arriving at the head of the lists.
 */
export async function listJobs(client: TriremeClient, q: JobQuery): Promise<JobPage> {
  const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
  const router = client.project.router;
  const pools = client.project.config.pools;
  if (q.queue && !router.poolFor(q.queue)) throw new JobError('unknown_queue', `no pool serves queue "${q.queue}"; queues: ${router.queues().join(', ')}`, 'queue');
  if (q.pool && !Object.hasOwn(pools, q.pool)) throw new JobError('unknown_pool', `no pool "${q.pool}"; pools: ${Object.keys(pools).join(', ')}`, 'pool');
  const pool = q.pool ?? (q.queue ? router.poolFor(q.queue) : undefined);
  const elsewhere = pool ? poolKind(pools[pool]).jobsElsewhere : undefined;
  if (elsewhere) throw new JobError('jobs_elsewhere', `pool "${pool}": ${elsewhere}`, q.pool ? 'pool' : 'queue');
  // Every pool's queues whose jobs are Trireme's own (a Celery pool's tasks are not in BullMQ).
  const queues = q.queue ? [q.queue] : q.pool ? pools[q.pool].queues : router.queues().filter((x) => poolKind(pools[router.poolFor(x)!]).ownQueues);
  const states = q.state?.length ? q.state : (['waiting', 'active', 'delayed', 'waiting-children', 'completed', 'failed'] as const);
  const types = [...new Set(states.flatMap((s) => TYPES[s]))];
  const offsets = decodeCursor(q.cursor);
  const sources = queues.flatMap((queue) => types.map((type) => ({ key: `${queue}|${type}`, queue, type })));
  const batches = await Promise.all(sources.map(async (s) => {
    const from = offsets[s.key] ?? 0;
    const jobs = (await client.queue(s.queue).getJobs([s.type], from, from + limit - 1, false)).filter(Boolean);
    return { ...s, jobs, next: 0, full: jobs.length === limit };
  }));
  const out: JobView[] = [];
  const time = (j: Job) => j.finishedOn || j.processedOn || j.timestamp;
  for (;;) {
    let best: (typeof batches)[number] | undefined;
    for (const b of batches) if (b.next < b.jobs.length && (!best || time(b.jobs[b.next]) > time(best.jobs[best.next]))) best = b;
    if (!best || out.length >= limit) break;
    // A full batch may have more behind it that is newer than what other lists hold: stop before guessing.
    const job = best.jobs[best.next++];
    offsets[best.key] = (offsets[best.key] ?? 0) + 1;
    if (!q.task || job.name === q.task) out.push(await client.view(job, STATE_OF[best.type] ?? best.type));
    if (best.next === best.jobs.length && best.full) break;
  }
  const more = batches.some((b) => b.next < b.jobs.length || b.full);
  return { jobs: out, cursor: more ? Buffer.from(JSON.stringify(offsets)).toString('base64url') : null };
}

function decodeCursor(cursor?: string): Record<string, number> {
  if (!cursor) return {};
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (typeof v === 'object' && v && Object.values(v).every((n) => Number.isInteger(n) && (n as number) >= 0)) return v;
  } catch { /* fall through */ }
  throw new JobError('invalid_cursor', 'cursor is not one this API returned; pass the `cursor` of the previous page, or none for the first', 'cursor');
}

/** The error for an id that names no job (any more). */
export function jobNotFound(id: string): JobError {
  return new JobError('not_found', `no job "${id}" (finished jobs are kept a day, failed ones a week)`);
}

async function load(client: TriremeClient, id: string): Promise<Job> {
  const job = await client.queueOfJob(id)?.getJob(bullmqIdOf(id));
  if (!job) throw jobNotFound(id);
  return job;
}

const WAITING = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children', 'paused']);

/**
 * Cancels a job: a job not yet running is removed; a running one is aborted by the replica that runs it and fails
 * with "cancelled" (never retried). Resolves with the state the job was left in.
 */
export async function cancelJob(client: TriremeClient, id: string, opts: { waitMs?: number } = {}): Promise<{ id: string; was: string; state: string }> {
  const job = await load(client, id);
  const was = await job.getState();
  if (WAITING.has(was)) {
    try {
      await job.remove();
      return { id, was, state: 'removed' };
    } catch {
      // Taken by a replica between the two calls: cancel it as a running job.
    }
  } else if (was !== 'active') {
    throw new JobError('conflict', `job ${id} is ${was}; only waiting, delayed or running jobs can be cancelled`);
  }
  // The replica may be about to register the job: announce again until it leaves `active` or the wait ends.
  const deadline = Date.now() + (opts.waitMs ?? 10_000);
  let state = 'active';
  while (Date.now() < deadline) {
    await client.redis.publish(keys.cancel(ownPrefix(client.redis, client.project.config.prefix)), id);
    await new Promise((r) => setTimeout(r, 100));
    state = await job.getState();
    if (state !== 'active') break;
  }
  return { id, was, state };
}

/**
 * Runs a failed (or completed) job again from its first attempt. `was` is the state it was retried from; `state` is
 * read just after, so a replica may already have taken (or even finished) the new run.
 */
export async function retryJob(client: TriremeClient, id: string): Promise<{ id: string; was: string; state: string }> {
  const job = await load(client, id);
  const was = await job.getState();
  if (was !== 'failed' && was !== 'completed') throw new JobError('conflict', `job ${id} is ${was}; only failed or completed jobs can be retried`);
  await job.retry(was, { resetAttemptsMade: true, resetAttemptsStarted: true });
  await client.announce(job.queueName);
  return { id, was, state: await job.getState() };
}

export type JobEvent =
  | { type: 'state'; state: string; job: JobView }
  | { type: 'progress'; progress: unknown }
  | { type: 'log'; index: number; line: string }
  | { type: 'end'; state: string; result?: unknown; error?: string };

/**
 * Follows one job: its log lines in order, progress and state changes, ending with `end` once the job has finished
 * and its last log line was delivered (or it was removed). Stops early when `signal` aborts.
 */
/** Waits `ms`, or less when `signal` aborts; leaves no listener behind either way. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function* followJob(client: TriremeClient, id: string, opts: { pollMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
  const first = await load(client, id);
  const queue = client.queue(first.queueName);
  let state = '';
  let progress = '';
  let logged = 0;
  while (!opts.signal?.aborted) {
    // State, then the job, then its logs: a job seen finished has its result stored, and every line it logged (a
    // replica stores the last line before it settles the job).
    const now = await queue.getJobState(first.id!);
    const job = await queue.getJob(first.id!);
    if (!job || now === 'unknown') { yield { type: 'end', state: 'removed' }; return; }
    const { logs } = await queue.getJobLogs(first.id!, logged, logged + 999, true);
    for (const line of logs) yield { type: 'log', index: logged++, line };
    if (now !== state) { state = now; yield { type: 'state', state, job: await client.view(job, now) }; }
    const p = JSON.stringify(job.progress ?? 0);
    if (p !== progress) { progress = p; yield { type: 'progress', progress: job.progress }; }
    if (logs.length === 1000) continue;
    if (state === 'completed' || state === 'failed') {
      yield state === 'completed' ? { type: 'end', state, result: job.returnvalue } : { type: 'end', state, error: job.failedReason };
      return;
    }
    await pause(opts.pollMs ?? 250, opts.signal);
  }
}
