/**
 * A replica's side of job history: the record of every run goes to a Redis list before BullMQ writes the run's
 * outcome, so a finished run always has its record; the controller's recorder (history.ts) takes the list to
 * PostgreSQL in batches.
 *
 * A run that never finishes (its replica killed with -9, or cut off from Redis until another took the job over) has
 * no replica left to record it. So while a job runs, its run is noted under `~run:<job id>`; the replica that starts
 * the job again finds the note (SET … GET, one command) and records that run as `lost`, before its own. The note goes
 * when the run's record is written, in the same round trip, only if it is still this run's.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from './connection.js';
import { storableText, type RunRecord } from '../core/records.js';
import type { Logger } from '../log.js';
import { HOST } from '../host.js';
import { keys } from './keys.js';
import { within } from './deadline.js';

export interface OutboxReplica { id: string; pool: string; pricePerHour: number; concurrency: number }

/** A run under way, as noted in Redis. */
interface OpenRun { replica: string; host: string; attempt: number; startedAt: number }

/** How long a run's note outlives a replica that died without another taking the job over. */
const OPEN_RUN_TTL_S = 7 * 86_400;

/** Deletes each run note still holding the value this replica wrote (another replica may have taken the job over). */
const CLOSE_RUNS = `local n = 0
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[i] then n = n + redis.call('DEL', k) end
end
return n`;

export class RunOutbox {
  private batch: string[] = [];
  /** Run notes to remove with the batch: keys and the value each must still hold. */
  private closing: { key: string; note: string }[] = [];
  private pushing?: Promise<unknown>;
  /** Each running job's note, and the promise of its write (a lost run it found is queued before this run's record). */
  private readonly open = new Map<string, { note: string; noted: Promise<void> }>();

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly replica: OutboxReplica, private readonly log: Logger) {}

  /**
   * Notes that a run of `job` began here. When the note it replaces is another run's, that run was lost: its record
   * (outcome `lost`, ended now) is queued at once. Never throws: with Redis away the note is not written (a run lost
   * meanwhile then goes unrecorded, as before notes).
   */
  begin(queue: string, job: Job, began: number): void {
    const note = JSON.stringify({ replica: this.replica.id, host: HOST, attempt: job.attemptsMade + 1, startedAt: began } satisfies OpenRun);
    const noted = this.note(keys.openRun(this.prefix, job.id!), note).then((prev) => {
      if (!prev || prev === note) return;
      let lost: OpenRun;
      try { lost = JSON.parse(prev) as OpenRun; } catch { return; }
      if (typeof lost.startedAt !== 'number' || typeof lost.replica !== 'string') return;
      this.log.warn({ job: job.id, lostReplica: lost.replica, lostHost: lost.host }, 'a run of this job was lost with its replica: recorded as lost');
      void this.push(JSON.stringify(this.recordOf(queue, job, { ...lost, outcome: 'lost', finishedAt: Date.now() })));
    });
    this.open.set(job.id!, { note, noted });
  }

  /** Notes of runs that began in this turn of the event loop, written in one round trip (as records are, see push). */
  private noting: { key: string; note: string; done: (prev: string | null) => void }[] = [];

  /** Writes a run's note; resolves with the note it replaced (null: none, or Redis did not answer within 5 s). */
  private note(key: string, note: string): Promise<string | null> {
    return new Promise((done) => {
      if (this.noting.push({ key, note, done }) > 1) return;
      setImmediate(() => {
        const batch = this.noting;
        this.noting = [];
        const p = this.redis.pipeline();
        for (const n of batch) p.set(n.key, n.note, 'EX', OPEN_RUN_TTL_S, 'GET');
        void within(p.exec(), 5_000, null).then((res) => batch.forEach((n, i) => n.done(res?.[i]?.[0] ? null : (res?.[i]?.[1] as string | null) ?? null)));
      });
    });
  }

  /** Queues the run's record; resolves once it is in Redis (or the write failed, which is logged). */
  async record(queue: string, job: Job, outcome: RunRecord['outcome'], error: unknown, began: number, ended: number): Promise<void> {
    const open = this.open.get(job.id!);
    this.open.delete(job.id!);
    // The lost run this one found goes first, so that history never sees it after the job's last run.
    if (open) await open.noted;
    const rec = this.recordOf(queue, job, {
      replica: this.replica.id, host: HOST, attempt: job.attemptsMade + 1, startedAt: began, finishedAt: ended, outcome,
      ...(outcome === 'failed' || outcome === 'cancelled' ? { error: (error as Error)?.message ?? String(error) } : {}),
    });
    rec.final = outcome === 'completed' || outcome === 'cancelled' || (outcome === 'failed' && (error instanceof UnrecoverableError || job.attemptsMade + 1 >= rec.maxAttempts));
    try {
      await this.push(JSON.stringify(rec), open && { key: keys.openRun(this.prefix, job.id!), note: open.note });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, job: job.id }, 'cannot queue the run for history');
    }
  }

  /** A run's record, its free text made storable (a NUL or a lone surrogate in an error is refused by PostgreSQL's jsonb). */
  private recordOf(queue: string, job: Job, run: OpenRun & Pick<RunRecord, 'finishedAt' | 'outcome' | 'error'>): RunRecord {
    const r = this.replica;
    return {
      jobId: job.id!, task: storableText(job.name), queue, pool: r.pool, replica: run.replica, host: run.host,
      attempt: run.attempt, maxAttempts: job.opts.attempts ?? 1, submittedAt: job.timestamp, delay: job.opts.delay ?? 0,
      startedAt: run.startedAt, finishedAt: run.finishedAt, outcome: run.outcome,
      ...(run.error !== undefined ? { error: storableText(run.error) } : {}),
      final: false,
      cost: (r.pricePerHour * (run.finishedAt - run.startedAt)) / 3_600_000 / r.concurrency,
    };
  }

  /**
   * Group commit: the records of every run that finishes in this turn of the event loop go in one RPUSH (with their
   * notes' removal in the same round trip), and each run waits for it. At high rates one command serves many jobs.
   */
  private push(record: string, close?: { key: string; note: string }): Promise<unknown> {
    this.batch.push(record);
    if (close) this.closing.push(close);
    this.pushing ??= new Promise((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.batch;
      const closing = this.closing;
      this.batch = [];
      this.closing = [];
      this.pushing = undefined;
      const p = this.redis.pipeline().rpush(keys.historyRuns(this.prefix), ...batch);
      if (closing.length) p.eval(CLOSE_RUNS, closing.length, ...closing.map((c) => c.key), ...closing.map((c) => c.note));
      return within(p.exec().then((res) => { const err = res?.find(([e]) => e)?.[0]; if (err) throw err; }), 5_000, undefined);
    });
    return this.pushing;
  }
}

/** Where history stands in Redis: records waiting for PostgreSQL, when the oldest of them finished, and those set aside. */
export interface OutboxState { waiting: number; oldestFinishedAt?: number; rejected: number }

export async function outboxState(redis: Redis, prefix: string): Promise<OutboxState> {
  const [[, waiting], [, head], [, rejected]] = (await redis.pipeline()
    .llen(keys.historyRuns(prefix)).lindex(keys.historyRuns(prefix), 0).llen(keys.historyRejected(prefix)).exec()) as [Error | null, unknown][];
  let oldestFinishedAt: number | undefined;
  try {
    const f = (JSON.parse(String(head)) as { finishedAt?: unknown }).finishedAt;
    if (typeof f === 'number') oldestFinishedAt = f;
  } catch { /* no head, or one that is not JSON: the recorder sets such records aside */ }
  return { waiting: Number(waiting) || 0, oldestFinishedAt, rejected: Number(rejected) || 0 };
}
