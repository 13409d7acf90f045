/**
 * A replica's side of job history: the record of every run goes to a Redis list before BullMQ writes the run's
 * outcome, so a finished run always has its record; the controller's recorder (history.ts) takes the list to
 * PostgreSQL in batches.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from './connection.js';
import type { RunRecord } from '../core/records.js';
import type { Logger } from '../log.js';
import { HOST } from '../host.js';
import { keys } from './keys.js';
import { within } from './deadline.js';

export interface OutboxReplica { id: string; pool: string; pricePerHour: number; concurrency: number }

export class RunOutbox {
  private batch: string[] = [];
  private pushing?: Promise<unknown>;

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly replica: OutboxReplica, private readonly log: Logger) {}

  /** Queues the run's record; resolves once it is in Redis (or the write failed, which is logged). */
  async record(queue: string, job: Job, outcome: RunRecord['outcome'], error: unknown, began: number, ended: number): Promise<void> {
    const maxAttempts = job.opts.attempts ?? 1;
    const r = this.replica;
    const rec: RunRecord = {
      jobId: job.id!, task: job.name, queue, pool: r.pool, replica: r.id, host: HOST,
      attempt: job.attemptsMade + 1, maxAttempts, submittedAt: job.timestamp, delay: job.opts.delay ?? 0, startedAt: began, finishedAt: ended,
      outcome, ...(outcome === 'failed' || outcome === 'cancelled' ? { error: (error as Error)?.message ?? String(error) } : {}),
      final: outcome === 'completed' || outcome === 'cancelled' || (outcome === 'failed' && (error instanceof UnrecoverableError || job.attemptsMade + 1 >= maxAttempts)),
      cost: (r.pricePerHour * (ended - began)) / 3_600_000 / r.concurrency,
    };
    try {
      await this.push(JSON.stringify(rec));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, job: job.id }, 'cannot queue the run for history');
    }
  }

  /**
   * Group commit: the records of every run that finishes in this turn of the event loop go in one RPUSH, and each
   * run waits for it. At high rates one command serves many jobs.
   */
  private push(record: string): Promise<unknown> {
    this.batch.push(record);
    this.pushing ??= new Promise((resolve) => setImmediate(resolve)).then(() => {
      const batch = this.batch;
      this.batch = [];
      this.pushing = undefined;
      return within(this.redis.rpush(keys.historyRuns(this.prefix), ...batch), 5_000, 0);
    });
    return this.pushing;
  }
}
