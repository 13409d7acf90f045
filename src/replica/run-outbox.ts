/**
 * A replica's side of job history: the record of every run goes to a Redis list before BullMQ writes the run's
 * outcome, so a finished run always has its record; the controller's recorder (history/recorder.ts) takes the list to
 * PostgreSQL in batches.
 *
 * A run that never finishes (its replica killed with -9, or cut off from Redis until another took the job over) has
 * no replica left to record it. So while a job runs, its run is noted under `~run:<job id>`; the replica that starts
 * the job again finds the note and records that run as `lost`, before its own. The note goes when the run's record is
 * written, in the same command, only if it is still this run's. Notes and records go one script call per turn of the
 * event loop each (group commit), so that history costs the job path as few round trips and commands as it can.
 */
import type { Redis } from '../redis/connection.js';
import { storableText, type RunRecord } from '../core/records.js';
import type { Logger } from '../system/log.js';
import { HOST } from '../system/host.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';
import { within } from '../system/deadline.js';
import { isUnrecoverable, type ReplicaJob as Job } from './parts.js';

export interface OutboxReplica { id: string; pool: string; pricePerHour: number; concurrency: number }

/** How long a run's note outlives a replica that died without another taking the job over. */
const OPEN_RUN_TTL_S = 7 * 86_400;

/** Notes the runs that began in one turn (KEYS: their notes; ARGV: the TTL, then each note); returns the notes replaced. */
const OPEN_RUNS = `local ttl = ARGV[1]
local prev = {}
for i, k in ipairs(KEYS) do
  prev[i] = redis.call('GET', k) or false
  redis.call('SET', k, ARGV[i + 1], 'EX', ttl)
end
return prev`;

/**
 * Appends the records of one turn (KEYS[1]: the list; ARGV[1]: how many, then the records) and removes the notes of
 * their runs (KEYS[2..]) that still hold this replica's note (ARGV after the records): another replica may have taken
 * a job over meanwhile, and its note is its own.
 */
const CLOSE_RUNS = `local n = tonumber(ARGV[1])
for i = 2, n + 1, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, n + 1)))
end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[n + i] then redis.call('DEL', KEYS[i]) end
end
return n`;

/** The replica's connection with the two scripts defined (ioredis sends each once, then by its SHA). */
type OutboxRedis = Redis & {
  triremeOpenRuns(n: number, ...args: (string | number)[]): Promise<(string | null)[]>;
  triremeCloseRuns(n: number, ...args: (string | number)[]): Promise<number>;
};

/** Runs that began in one turn of the event loop, noted in one round trip. */
interface Opening { keys: string[]; notes: string[]; jobs: { queue: string; job: Job }[]; done: Promise<void> }

export class RunOutbox {
  private batch: string[] = [];
  /** Run notes to remove with the batch: keys and the value each must still hold. */
  private closing: { key: string; note: string }[] = [];
  private pushing?: Promise<unknown>;
  private opening?: Opening;
  /** Each running job's note, and the promise of its write (a lost run it found is queued before this run's record). */
  private readonly open = new Map<string, { note: string; noted: Promise<void> }>();
  private readonly redis: OutboxRedis;
  private readonly prefix: string;

  constructor(redis: Redis, prefix: string, private readonly replica: OutboxReplica, private readonly log: Logger) {
    this.redis = redis as OutboxRedis;
    this.prefix = ownPrefix(redis, prefix);
    if (!this.redis.triremeOpenRuns) {
      redis.defineCommand('triremeOpenRuns', { lua: OPEN_RUNS });
      redis.defineCommand('triremeCloseRuns', { lua: CLOSE_RUNS });
    }
  }

  /**
   * Notes that a run of `job` began here (batched per turn of the event loop). When the note it replaces is another
   * run's, that run was lost: its record (outcome `lost`, ended now) is queued at once. Never throws: with Redis away
   * the note is not written (a run lost meanwhile then goes unrecorded, as before notes).
   */
  begin(queue: string, job: Job, began: number): void {
    const note = JSON.stringify({ replica: this.replica.id, host: HOST, attempt: job.attemptsMade + 1, startedAt: began });
    let b = this.opening;
    if (!b) {
      const opening: Opening = { keys: [], notes: [], jobs: [], done: Promise.resolve() };
      opening.done = new Promise((resolve) => setImmediate(resolve)).then(async () => {
        this.opening = undefined;
        const prev = await within(this.redis.triremeOpenRuns(opening.keys.length, ...opening.keys, OPEN_RUN_TTL_S, ...opening.notes), 5_000, null);
        prev?.forEach((p, i) => { if (p && p !== opening.notes[i]) this.lost(opening.jobs[i].queue, opening.jobs[i].job, p); });
      });
      b = this.opening = opening;
    }
    b.keys.push(keys.openRun(this.prefix, job.id!));
    b.notes.push(note);
    b.jobs.push({ queue, job });
    this.open.set(job.id!, { note, noted: b.done });
  }

  /** Queues the record of a run another replica noted and never finished: it ends now, as its job was taken over. */
  private lost(queue: string, job: Job, note: string): void {
    let run: { replica: string; host: string; attempt: number; startedAt: number };
    try { run = JSON.parse(note); } catch { return; }
    if (typeof run.replica !== 'string' || typeof run.attempt !== 'number' || typeof run.startedAt !== 'number') return;
    this.log.warn({ job: job.id, lostReplica: run.replica, lostHost: run.host }, 'a run of this job was lost with its replica: recorded as lost');
    void this.push(JSON.stringify(this.recordOf(queue, job, { ...run, outcome: 'lost', finishedAt: Date.now() })));
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
    rec.final = outcome === 'completed' || outcome === 'cancelled' || (outcome === 'failed' && (isUnrecoverable(error) || job.attemptsMade + 1 >= rec.maxAttempts));
    await this.push(JSON.stringify(rec), open && { key: keys.openRun(this.prefix, job.id!), note: open.note });
  }

  /** A run's record, its free text made storable (a NUL or a lone surrogate in an error is refused by PostgreSQL's jsonb). */
  private recordOf(queue: string, job: Job, run: { replica: string; host: string; attempt: number; startedAt: number } & Pick<RunRecord, 'finishedAt' | 'outcome' | 'error'>): RunRecord {
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
   * Group commit: the records of every run that finishes in this turn of the event loop go in one command (with their
   * notes' removal), and each run waits for it. At high rates one command serves many jobs. Never rejects: with
   * Redis away for 5 s the records are dropped and a warning logged.
   */
  private push(record: string, close?: { key: string; note: string }): Promise<unknown> {
    this.batch.push(record);
    if (close) this.closing.push(close);
    this.pushing ??= new Promise((resolve) => setImmediate(resolve)).then(async () => {
      const batch = this.batch;
      const closing = this.closing;
      this.batch = [];
      this.closing = [];
      this.pushing = undefined;
      const ok = await within(this.redis.triremeCloseRuns(1 + closing.length, keys.historyRuns(this.prefix), ...closing.map((c) => c.key),
        batch.length, ...batch, ...closing.map((c) => c.note)).then(() => true), 5_000, false);
      if (!ok) this.log.warn({ records: batch.length }, 'cannot queue run records for history: Redis did not take them within 5 s');
    });
    return this.pushing;
  }
}
