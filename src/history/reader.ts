/** Job history's read path: a job Redis no longer holds, job pages, and per-task daily figures (schema.ts has the tables). */
import type pg from 'pg';
import type { Project } from '../core/project.js';
import type { JobView } from '../jobs/client.js';
import type { RanJob } from '../core/records.js';
import { createPool } from './schema.js';

export interface TaskDay {
  task: string; day: string; jobs: number; completed: number; failed: number;
  waitP50: number | null; waitP95: number | null; durationP50: number | null; durationP95: number | null; cost: number;
}

/** What the API reads from history: a job Redis no longer holds, job pages, and per-task daily figures. */
export class HistoryReader {
  private readonly pool: pg.Pool;
  private readonly prefix: string;
  constructor(url: string, private readonly project: Project) {
    this.pool = createPool(url);
    this.prefix = project.config.prefix;
  }

  /** A job as the API shows it (no payload or result: history keeps timings and outcomes), or undefined. */
  async job(id: string): Promise<JobView | undefined> {
    try {
      const r = await this.pool.query('SELECT * FROM trireme_jobs WHERE prefix = $1 AND id = $2', [this.prefix, id]);
      return r.rows[0] ? viewOf(r.rows[0]) : undefined;
    } catch {
      return undefined; // history unreachable: the job is as unknown as Redis says
    }
  }

  /** Jobs finished before `before` (ms), newest first, optionally of one task. */
  async list(q: { task?: string; before?: number; limit: number }): Promise<{ jobs: JobView[]; cursor?: string }> {
    const r = await this.pool.query(
      `SELECT * FROM trireme_jobs WHERE prefix = $1 AND finished_at IS NOT NULL AND finished_at < to_timestamp($2 / 1000.0)
         AND ($3::text IS NULL OR task = $3) ORDER BY finished_at DESC, id LIMIT $4`,
      [this.prefix, q.before ?? Date.now() + 86_400_000, q.task ?? null, q.limit]);
    const jobs = r.rows.map(viewOf);
    return { jobs, cursor: jobs.length === q.limit ? `h${jobs[jobs.length - 1].finishedAt}` : undefined };
  }

  /** Throughput, wait and duration percentiles (ms) and cost per task per day, for jobs finished in [from, to). */
  async tasks(from: number, to: number): Promise<TaskDay[]> {
    const r = await this.pool.query(
      `SELECT task, to_char(date_trunc('day', finished_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day, count(*)::int AS jobs,
         (count(*) FILTER (WHERE outcome = 'completed'))::int AS completed, (count(*) FILTER (WHERE outcome <> 'completed'))::int AS failed,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) AS wait_p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_ms) AS wait_p95,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS duration_p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS duration_p95,
         coalesce(sum(cost), 0) AS cost
       FROM trireme_jobs WHERE prefix = $1 AND finished_at >= to_timestamp($2 / 1000.0) AND finished_at < to_timestamp($3 / 1000.0)
       GROUP BY 1, 2 ORDER BY 2, 1`, [this.prefix, from, to]);
    const n = (v: unknown) => (v === null ? null : Math.round(Number(v)));
    return r.rows.map((x) => ({
      task: x.task, day: x.day, jobs: x.jobs, completed: x.completed, failed: x.failed,
      waitP50: n(x.wait_p50), waitP95: n(x.wait_p95), durationP50: n(x.duration_p50), durationP95: n(x.duration_p95), cost: Number(x.cost),
    }));
  }

  /**
   * The jobs of a pool submitted in [since, until) that ran at least once, oldest first, for `trireme tune`: each
   * with the time all its runs took (retries included: the pool did that work) and the delay it was submitted with
   * (its first start, less its wait, less its submit). History keeps no priority.
   */
  async ran(pool: string, since: number, until: number): Promise<RanJob[]> {
    const r = await this.pool.query(
      `SELECT j.task, j.queue, (extract(epoch FROM j.submitted_at) * 1000)::float8 AS submitted,
         (extract(epoch FROM j.started_at) * 1000)::float8 AS started, j.wait_ms::float8 AS wait, coalesce(r.ms, j.duration_ms)::float8 AS ms
       FROM trireme_jobs j
       LEFT JOIN LATERAL (SELECT sum(duration_ms) AS ms FROM trireme_runs x WHERE x.prefix = j.prefix AND x.job_id = j.id) r ON true
       WHERE j.prefix = $1 AND j.pool = $2 AND j.submitted_at >= to_timestamp($3 / 1000.0) AND j.submitted_at < to_timestamp($4 / 1000.0)
         AND j.started_at IS NOT NULL
       ORDER BY j.submitted_at, j.id`, [this.prefix, pool, since, until]);
    return r.rows.map((x) => ({
      task: x.task, queue: x.queue, submittedAt: x.submitted,
      delay: x.wait === null ? 0 : Math.max(0, x.started - x.submitted - x.wait), service: Math.max(0, Number(x.ms ?? 0)) / 1000,
    }));
  }

  async close(): Promise<void> { await this.pool.end().catch(() => {}); }
}

function viewOf(row: Record<string, any>): JobView {
  const ms = (d: Date | null) => (d ? d.getTime() : undefined);
  return {
    id: row.id, task: row.task, queue: row.queue, pool: row.pool,
    state: row.outcome === 'completed' ? 'completed' : row.outcome === 'retrying' || row.outcome === 'waiting' ? 'unknown' : 'failed',
    payload: undefined, attempts: row.attempts, maxAttempts: row.max_attempts, starts: row.runs, stalls: 0, progress: undefined,
    error: row.error ?? undefined, submittedAt: ms(row.submitted_at)!, startedAt: ms(row.started_at), finishedAt: ms(row.finished_at),
    source: 'history',
  };
}
