/**
 * Job history's write path (`history: { postgres: URL }`): every run of every job, and one row per job, kept after
 * Redis lets them go.
 *
 * The write path is an outbox. A replica appends each run's record to a Redis list before BullMQ records the job's
 * outcome (replica/run-outbox.ts), so a finished run always has its record; the recorder (in the `serve` that holds
 * the controller lease) reads the list in batches, writes each batch in one transaction, and only then trims what it
 * wrote. PostgreSQL down: the list grows in Redis (persisted with it) and history is late; jobs neither slow nor stop;
 * nothing is lost when it comes back. A batch written twice (the recorder died between commit and trim) is harmless:
 * a run's key is (prefix, job, attempt, replica, start), and a run already there changes nothing. A record PostgreSQL
 * refuses as data is cleaned, and set aside if still refused, so one bad record never stops history behind it.
 */
import type pg from 'pg';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';
import { storable } from '../core/records.js';
import type { Redis } from '../redis/connection.js';
import type { Logger } from '../system/log.js';
import { createPool, migrate } from './schema.js';

/** Records set aside (`~history-rejected`) kept at most; the oldest go first. */
const REJECTED_KEPT = 10_000;

/** PostgreSQL refused the values themselves (SQLSTATE classes 22, data exception, and 23, integrity), not the connection. */
const refusedData = (e: unknown) => /^2[23]/.test((e as { code?: string }).code ?? '');

/** One batch of run records in one statement: the runs, then each job's row folded from its new runs. */
const RECORD_SQL = `
WITH r AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x("jobId" text, task text, queue text, pool text, replica text, host text,
    attempt integer, "maxAttempts" integer, "submittedAt" bigint, delay bigint, "startedAt" bigint, "finishedAt" bigint,
    outcome text, error text, final boolean, cost double precision)
), ins AS (
  INSERT INTO trireme_runs (prefix, job_id, attempt, replica, started_ms, task, queue, pool, host, started_at, finished_at, duration_ms, outcome, error, cost)
  SELECT $2, "jobId", attempt, replica, "startedAt", task, queue, pool, host, to_timestamp("startedAt" / 1000.0), to_timestamp("finishedAt" / 1000.0),
    "finishedAt" - "startedAt", outcome, error, cost FROM r
  ON CONFLICT DO NOTHING
  RETURNING job_id, attempt, replica, started_ms
), fresh AS (
  SELECT r.* FROM r JOIN ins ON ins.job_id = r."jobId" AND ins.attempt = r.attempt AND ins.replica = r.replica AND ins.started_ms = r."startedAt"
), folded AS (
  SELECT DISTINCT ON ("jobId") "jobId", task, queue, pool, replica, host, attempt, "maxAttempts", "submittedAt", outcome, error, final,
    "finishedAt", "finishedAt" - "startedAt" AS duration,
    count(*) OVER w AS runs, sum(cost) OVER w AS cost_sum, min("startedAt") OVER w AS first_start,
    min(CASE WHEN attempt = 1 THEN greatest(0, "startedAt" - "submittedAt" - delay) END) OVER w AS wait
  FROM fresh WINDOW w AS (PARTITION BY "jobId") ORDER BY "jobId", "finishedAt" DESC
)
INSERT INTO trireme_jobs AS j (prefix, id, task, queue, pool, submitted_at, started_at, finished_at, attempts, max_attempts, runs, outcome, error,
  wait_ms, duration_ms, cost, replica, host)
SELECT $2, "jobId", task, queue, pool, to_timestamp("submittedAt" / 1000.0), to_timestamp(first_start / 1000.0),
  CASE WHEN final THEN to_timestamp("finishedAt" / 1000.0) END, attempt, "maxAttempts", runs,
  CASE WHEN final THEN outcome WHEN outcome = 'handed-back' THEN 'waiting' ELSE 'retrying' END, error, wait, duration, cost_sum, replica, host
FROM folded
ON CONFLICT (prefix, id) DO UPDATE SET
  started_at = least(j.started_at, EXCLUDED.started_at),
  finished_at = coalesce(EXCLUDED.finished_at, j.finished_at),
  attempts = greatest(j.attempts, EXCLUDED.attempts),
  runs = j.runs + EXCLUDED.runs,
  outcome = CASE WHEN j.finished_at IS NOT NULL AND EXCLUDED.finished_at IS NULL THEN j.outcome ELSE EXCLUDED.outcome END,
  error = CASE WHEN j.finished_at IS NOT NULL AND EXCLUDED.finished_at IS NULL THEN j.error ELSE EXCLUDED.error END,
  wait_ms = coalesce(j.wait_ms, EXCLUDED.wait_ms),
  duration_ms = EXCLUDED.duration_ms,
  cost = j.cost + EXCLUDED.cost,
  replica = EXCLUDED.replica,
  host = EXCLUDED.host`;

/**
 * Takes run records (core/records.ts RunRecord, as JSON) from Redis to PostgreSQL in batches. `tick()` does one pass (a batch, or nothing); `run()` loops
 * until stopped, backing off while PostgreSQL is away and logging the outage once, then its end.
 */
export class HistoryRecorder {
  private readonly pool: pg.Pool;
  private migrated = false;
  private stopped = false;
  private down?: number;
  /** The last error writing to PostgreSQL, while it lasts (logged once, and its end). */
  lastError?: string;
  /** Prefix of the Redis keys (keyspace.ts); `opts.prefix` is the config's, which rows in PostgreSQL carry. */
  private readonly own: string;

  constructor(private readonly opts: { url: string; redis: Redis; prefix: string; batch: number; logger?: Logger; isLeader?: () => boolean }) {
    this.pool = createPool(opts.url);
    this.own = ownPrefix(opts.redis, opts.prefix);
  }

  /** Records waiting in Redis for PostgreSQL. */
  backlog(): Promise<number> { return this.opts.redis.llen(keys.historyRuns(this.own)); }

  /** One pass: returns how many records it took (0: nothing waiting). Throws when PostgreSQL or Redis fails. */
  async tick(): Promise<number> {
    if (!this.migrated) {
      const applied = await migrate(this.pool);
      this.migrated = true;
      if (applied.length) this.opts.logger?.info({ applied }, 'history: schema migrations applied');
    }
    const key = keys.historyRuns(this.own);
    const raw = await this.opts.redis.lrange(key, 0, this.opts.batch - 1);
    if (raw.length === 0) return 0;
    // The records as they are, joined into one JSON array: PostgreSQL parses them (no parse and re-serialise here).
    try {
      await this.write(raw);
    } catch (e) {
      // A record PostgreSQL refuses would fail the batch every time, and history would stop for good behind it.
      if (!refusedData(e)) throw e;
      await this.salvage(raw, e as Error);
    }
    // Only what was read: replicas append at the tail meanwhile.
    await this.opts.redis.ltrim(key, raw.length, -1);
    return raw.length;
  }

  private write(records: string[]): Promise<unknown> {
    return this.pool.query(RECORD_SQL, [`[${records.join(',')}]`, this.opts.prefix]);
  }

  /**
   * A batch PostgreSQL refused as data: its records cleaned (NUL and lone surrogates, which older replicas did not
   * clean, replaced) and written again; if the batch still fails, one at a time. A record that fails alone is set
   * aside in `~history-rejected` (with the reason, readable later), counted in /metrics, and logged here once.
   */
  private async salvage(raw: string[], first: Error): Promise<void> {
    const aside: { record: string; error: string }[] = [];
    const cleaned: { raw: string; json: string }[] = [];
    for (const r of raw) {
      try { cleaned.push({ raw: r, json: JSON.stringify(storable(JSON.parse(r))) }); } catch { aside.push({ record: r, error: 'not JSON' }); }
    }
    try {
      if (cleaned.length) await this.write(cleaned.map((c) => c.json));
    } catch (e) {
      if (!refusedData(e)) throw e;
      for (const c of cleaned) {
        try {
          await this.write([c.json]);
        } catch (err) {
          if (!refusedData(err)) throw err;
          aside.push({ record: c.raw, error: (err as Error).message });
        }
      }
    }
    if (!aside.length) return;
    const rejected = keys.historyRejected(this.own);
    const at = Date.now();
    await this.opts.redis.multi().rpush(rejected, ...aside.map((a) => JSON.stringify({ at, error: a.error, record: a.record })))
      .ltrim(rejected, -REJECTED_KEPT, -1).exec();
    this.opts.logger?.warn({ records: aside.length, err: aside[0].error, batchErr: first.message, key: rejected },
      'history: PostgreSQL refuses some run records even cleaned; they are set aside (read them from the key) and history goes on');
  }

  async run(): Promise<void> {
    let wait = 0;
    while (!this.stopped) {
      if (wait) await new Promise((r) => setTimeout(r, wait).unref());
      if (this.stopped) break;
      if (this.opts.isLeader && !this.opts.isLeader()) { wait = 1_000; continue; }
      try {
        const n = await this.tick();
        if (this.down !== undefined) {
          this.opts.logger?.info({ downMs: Date.now() - this.down }, 'history: PostgreSQL is back; catching up');
          this.down = undefined;
          this.lastError = undefined;
        }
        wait = n >= this.opts.batch ? 0 : 500;
      } catch (e) {
        this.lastError = (e as Error).message;
        if (this.down === undefined) {
          this.down = Date.now();
          this.opts.logger?.warn({ err: this.lastError }, 'history: cannot write to PostgreSQL; run records wait in Redis and nothing is lost');
        }
        wait = Math.min(5_000, Math.max(500, wait * 2));
      }
    }
  }

  /** Ends the loop of run() (its promise resolves after the pass under way); tick() still works. */
  async stopLoop(): Promise<void> { this.stopped = true; }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pool.end().catch(() => {});
  }
}
