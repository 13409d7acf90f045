/**
 * Job history's schema in PostgreSQL (`history: { postgres: URL }`): versioned. `trireme_migrations` holds the
 * versions applied; `migrate()` applies the missing ones in order, each in its own transaction, under an advisory lock
 * so that two serves starting at once do not race. The recorder (recorder.ts) writes, the reader (reader.ts) reads.
 */
import pg from 'pg';

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'jobs and runs',
    sql: `
CREATE TABLE trireme_runs (
  prefix       text        NOT NULL,
  job_id       text        NOT NULL,
  attempt      integer     NOT NULL,
  replica      text        NOT NULL,
  started_ms   bigint      NOT NULL,
  task         text        NOT NULL,
  queue        text        NOT NULL,
  pool         text        NOT NULL,
  host         text        NOT NULL,
  started_at   timestamptz NOT NULL,
  finished_at  timestamptz NOT NULL,
  duration_ms  bigint      NOT NULL,
  outcome      text        NOT NULL,
  error        text,
  cost         double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (prefix, job_id, attempt, replica, started_ms)
);
CREATE INDEX trireme_runs_finished ON trireme_runs (prefix, finished_at);
CREATE TABLE trireme_jobs (
  prefix       text        NOT NULL,
  id           text        NOT NULL,
  task         text        NOT NULL,
  queue        text        NOT NULL,
  pool         text        NOT NULL,
  submitted_at timestamptz NOT NULL,
  started_at   timestamptz,
  finished_at  timestamptz,
  attempts     integer     NOT NULL,
  max_attempts integer     NOT NULL,
  runs         integer     NOT NULL,
  outcome      text        NOT NULL,
  error        text,
  wait_ms      bigint,
  duration_ms  bigint,
  cost         double precision NOT NULL DEFAULT 0,
  replica      text,
  host         text,
  PRIMARY KEY (prefix, id)
);
CREATE INDEX trireme_jobs_finished ON trireme_jobs (prefix, finished_at);
CREATE INDEX trireme_jobs_task_finished ON trireme_jobs (prefix, task, finished_at);
`,
  },
];

const LOCK_ID = 7_407_011; // pg_advisory_xact_lock key for migrations ("trireme")

/** Applies the migrations this database lacks; returns the versions applied now. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const c = await pool.connect();
  try {
    await c.query('CREATE TABLE IF NOT EXISTS trireme_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      await c.query('BEGIN');
      try {
        await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_ID]);
        const done = await c.query('SELECT 1 FROM trireme_migrations WHERE version = $1', [m.version]);
        if (done.rowCount === 0) {
          await c.query(m.sql);
          await c.query('INSERT INTO trireme_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          applied.push(m.version);
        }
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {});
        throw new Error(`history: migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
      }
    }
    return applied;
  } finally {
    c.release();
  }
}

export function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000, application_name: 'trireme' });
  // A lost connection is reported by the query that used it; an idle client's error must not crash the process.
  pool.on('error', () => {});
  return pool;
}
