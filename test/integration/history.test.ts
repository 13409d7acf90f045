/**
 * Job history in a real PostgreSQL (Debian's binaries, initdb in a temp folder, a private port) beside a real
 * redis-server: every job and run recorded with its timings, history kept after Redis is flushed, PostgreSQL
 * stopped for 30 s in the middle of a run losing no record and stopping no job (and reported stuck meanwhile),
 * records PostgreSQL refuses set aside rather than stopping history, and a run lost with a killed replica recorded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, fixtureProject, waitFor, FIXTURE_TASKS, type TestRedis } from '../helpers.js';
import { startPostgres, postgresBin, type TestPostgres } from '../postgres.js';
import { PoolWorker } from '../../src/replica/pool-worker.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { createApi, type Api } from '../../src/api/server.js';
import { startHousekeeping, type Housekeeping } from '../../src/control/housekeeping.js';
import { migrate, MIGRATIONS } from '../../src/history/schema.js';
import { systemClock } from '../../src/system/system-clock.js';
import { silentLogger } from '../../src/system/log.js';
import { runChecks } from '../../src/control/doctor.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { keys } from '../../src/redis/keys.js';
import type { Project } from '../../src/project/project.js';
import { trireme, reapAll } from './procs.js';

const skip = postgresBin() ? false : 'PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)';
let redis: TestRedis;
let postgres: TestPostgres;
let db: pg.Pool;
let project: Project;
let client: TriremeClient;
let worker: PoolWorker;
let house: Housekeeping;
let api: Api;
let base: string;

const rows = async (sql: string, args: unknown[] = []) => (await db.query(sql, args)).rows;
const jobRows = async () => Number((await rows('SELECT count(*) FROM trireme_jobs'))[0].count);
const completedInRedis = () => client.queue('work').getCompletedCount();
/** Jobs this replica finished (BullMQ keeps at most 10 000 completed jobs, so its count stops there). */
const done = () => worker.info().jobsDone;

describe('job history in PostgreSQL', { skip }, () => {
  before(async () => {
    [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
    db = new pg.Pool({ connectionString: postgres.url, max: 2 });
    db.on('error', () => {});
    project = await fixtureProject({}, {
      redis: { url: redis.url }, history: { postgres: postgres.url, batch: 500, stuckAfter: '5s' },
      pools: { main: { queues: ['work'], concurrency: 50, pricePerHour: 3.6 }, lossy: { queues: ['lossy'], concurrency: 1 } },
    });
    client = new TriremeClient(project, redis.url);
    worker = new PoolWorker({ project, pool: 'main', redisUrl: redis.url });
    await worker.start();
    house = await startHousekeeping({ project, redisUrl: redis.url, logger: silentLogger, clock: systemClock, isLeader: () => true });
    api = await createApi({ project, redisUrl: redis.url });
    base = await api.listen('127.0.0.1', 0);
  });
  after(async () => {
    await reapAll();
    await worker?.drain(1_000);
    await house?.stop();
    await api?.close();
    await client?.close();
    await db?.end();
    await postgres?.stop();
    await redis?.stop();
  });

  test('10 000 jobs are recorded once each, with timings that agree with BullMQ\'s own', async () => {
    const submitted = await client.submitMany('fx.sleep', Array.from({ length: 10_000 }, () => ({ ms: 5 })));
    await waitFor(async () => (await completedInRedis()) >= 10_000, 300_000, '10 000 jobs to complete');
    await waitFor(async () => (await jobRows()) >= 10_000 && (await house.recorder!.backlog()) === 0, 120_000, 'history to catch up');
    assert.equal(await jobRows(), 10_000);
    assert.equal(Number((await rows('SELECT count(*) FROM trireme_runs'))[0].count), 10_000, 'one run per job');
    const byId = new Map((await rows(`SELECT id, task, pool, outcome, attempts, runs, cost,
      (extract(epoch FROM submitted_at) * 1000)::float8 AS submitted, (extract(epoch FROM started_at) * 1000)::float8 AS started,
      (extract(epoch FROM finished_at) * 1000)::float8 AS finished, wait_ms::float8 AS wait, duration_ms::float8 AS duration FROM trireme_jobs`)).map((r) => [r.id, r]));
    const jobs = await client.queue('work').getJobs(['completed'], 0, -1);
    assert.equal(jobs.length, 10_000);
    const close = (a: number, b: number) => Math.abs(a - b) < 1; // timestamptz keeps microseconds; ms survive the round trip
    let checked = 0;
    for (const j of jobs) {
      const r = byId.get(j.id!);
      assert.ok(r, `job ${j.id} is in history`);
      assert.equal(r.task, 'fx.sleep');
      assert.equal(r.pool, 'main');
      assert.equal(r.outcome, 'completed');
      assert.equal(r.attempts, 1);
      assert.equal(r.runs, 1);
      assert.ok(close(r.submitted, j.timestamp), `submitted ${r.submitted} vs ${j.timestamp}`);
      // One clock (this process): fetched <= began <= ended <= BullMQ's finish, and the duration is ended - began.
      // Not "at least the 5 ms it slept": a timer can fire a millisecond early on Node's cached loop clock (one run
      // read 4), so a lower bound from the sleep is no promise of the code.
      assert.ok(j.processedOn! <= r.started + 1 && r.started <= r.finished && r.finished <= j.finishedOn! + 1, `order for ${j.id}: ${j.processedOn} ${r.started} ${r.finished} ${j.finishedOn}`);
      assert.ok(r.duration >= 0 && close(r.duration, r.finished - r.started), `duration ${r.duration}`);
      assert.ok(close(r.wait, r.started - r.submitted), `wait ${r.wait}`);
      // 3.6 per hour over 50 slots: a 1 s run costs 0.00002.
      assert.ok(Math.abs(r.cost - (3.6 * r.duration) / 3_600_000 / 50) < 1e-9, `cost ${r.cost}`);
      checked++;
    }
    assert.equal(checked, 10_000);
    assert.equal(new Set(submitted.map((s) => s.id)).size, 10_000);
  });

  test('a job that fails after its retries has one row and a run per attempt', async () => {
    const job = await client.submit('fx.fail', {});
    await assert.rejects(client.waitFor(job.id, 30_000));
    await waitFor(async () => (await rows('SELECT * FROM trireme_jobs WHERE id = $1 AND finished_at IS NOT NULL', [job.id]))[0], 30_000, 'the failed job in history');
    const [row] = await rows('SELECT * FROM trireme_jobs WHERE id = $1', [job.id]);
    assert.equal(row.outcome, 'failed');
    assert.equal(row.attempts, 3);
    assert.equal(row.runs, 3);
    assert.equal(row.error, 'failed on attempt 3');
    const runs = await rows('SELECT attempt, outcome, error FROM trireme_runs WHERE job_id = $1 ORDER BY attempt', [job.id]);
    assert.deepEqual(runs.map((r) => [r.attempt, r.outcome, r.error]), [1, 2, 3].map((n) => [n, 'failed', `failed on attempt ${n}`]));
  });

  test('PostgreSQL stopped for 30 s: jobs go on, records wait in Redis, and all arrive once when it is back', async () => {
    const before = await jobRows();
    const start = done();
    // 1 500 jobs over ~40 s; PostgreSQL goes away 5 s in and comes back 30 s later.
    const pace = async () => {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        ids.push(...(await client.submitMany('fx.sleep', Array.from({ length: 50 }, () => ({ ms: 5 })))).map((s) => s.id));
        await new Promise((r) => setTimeout(r, 1_300));
      }
      return ids;
    };
    const submitting = pace();
    await new Promise((r) => setTimeout(r, 5_000));
    await postgres.stop();
    let downAt: number, upAt: number, waitingInRedis: number;
    try {
      downAt = done();
      await new Promise((r) => setTimeout(r, 30_000));
      upAt = done();
      waitingInRedis = await house.recorder!.backlog();
      // Stuck history is reported: /readyz stays 200 (jobs and the API go on) but says degraded and why; doctor fails it.
      const ready = await fetch(`${base}/readyz`);
      const body = await ready.json() as { status: string; checks: Record<string, { ok: boolean; detail: string }> };
      assert.equal(ready.status, 200, JSON.stringify(body));
      assert.equal(body.status, 'degraded', JSON.stringify(body));
      assert.equal(body.checks.history?.ok, false, JSON.stringify(body));
      assert.match(body.checks.history.detail, /^\d+ run records wait in Redis; the oldest finished \d+ s ago \(stuck after 5 s\)/);
      const doctor = (await runChecks(project, client.redis, { redisLabel: redis.url, url: redis.url })).find((c) => c.name === 'history');
      assert.equal(doctor?.status, 'fail', JSON.stringify(doctor));
      assert.match(doctor!.detail, /run records wait in Redis; the oldest finished \d+ s ago/);
    } finally {
      await postgres.start();
    }
    console.log(`PostgreSQL down 30 s: ${upAt - downAt} jobs completed meanwhile; ${waitingInRedis} run records waiting in Redis`);
    assert.ok(upAt - downAt > 500, `jobs went on while PostgreSQL was down (${upAt - downAt} completed)`);
    assert.ok(waitingInRedis > 500, `records waited in Redis (${waitingInRedis})`);
    const ids = await submitting;
    await waitFor(() => done() >= start + 1_500, 120_000, 'every job to complete');
    await waitFor(async () => (await house.recorder!.backlog()) === 0 && (await jobRows()) >= before + 1_500, 120_000, 'history to catch up');
    const caughtUp = await (await fetch(`${base}/readyz`)).json() as { status: string; checks: Record<string, { ok: boolean; detail: string }> };
    assert.deepEqual([caughtUp.status, caughtUp.checks.history?.ok], ['ready', true], JSON.stringify(caughtUp));
    assert.equal(await jobRows(), before + 1_500, 'every job once');
    const [missing] = await rows('SELECT count(*)::int AS n FROM unnest($1::text[]) AS id WHERE NOT EXISTS (SELECT 1 FROM trireme_jobs j WHERE j.id = id)', [ids]);
    assert.equal(missing.n, 0);
    const [dupRuns] = await rows('SELECT count(*)::int AS n FROM (SELECT job_id FROM trireme_runs GROUP BY job_id, attempt HAVING count(*) > 1) d');
    assert.equal(dupRuns.n, 0, 'no run recorded twice');
  });

  test('the schema is versioned: migrations apply once, and a second start applies none', async () => {
    const pool = new pg.Pool({ connectionString: postgres.url });
    try {
      assert.deepEqual(await migrate(pool), []);
      const applied = await pool.query('SELECT version, name FROM trireme_migrations ORDER BY version');
      assert.deepEqual(applied.rows, MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    } finally {
      await pool.end();
    }
  });

  test('per-task daily figures, and jobs Redis no longer holds, come from history (after FLUSHALL)', async () => {
    const day = await (await fetch(`${base}/history/tasks?from=${Date.now() - 86_400_000}`)).json() as { tasks: { task: string; jobs: number; completed: number; failed: number; durationP50: number; waitP95: number; cost: number }[] };
    const sleep = day.tasks.filter((t) => t.task === 'fx.sleep');
    assert.equal(sleep.reduce((n, t) => n + t.jobs, 0), 11_500);
    assert.equal(sleep.reduce((n, t) => n + t.completed, 0), 11_500);
    // The median of the recorded durations lies among them (not above the 5 ms slept: a timer may fire early).
    const [range] = await rows("SELECT min(duration_ms)::float8 AS lo, max(duration_ms)::float8 AS hi FROM trireme_jobs WHERE task = 'fx.sleep'");
    assert.ok(sleep.every((t) => t.durationP50 >= range.lo && t.durationP50 <= range.hi && t.waitP95 >= 0 && t.cost > 0), `${JSON.stringify(sleep)} vs ${JSON.stringify(range)}`);
    const fail = day.tasks.find((t) => t.task === 'fx.fail');
    assert.equal(fail?.failed, 1);

    const [one] = await rows("SELECT id FROM trireme_jobs WHERE task = 'fx.sleep' LIMIT 1");
    await client.redis.flushall();
    const r = await fetch(`${base}/jobs/${one.id}`);
    assert.equal(r.status, 200);
    const job = await r.json() as { id: string; state: string; task: string; source: string; attempts: number };
    assert.deepEqual([job.id, job.state, job.task, job.source, job.attempts], [one.id, 'completed', 'fx.sleep', 'history', 1]);
    const page = await (await fetch(`${base}/jobs?source=history&task=fx.fail`)).json() as { jobs: { task: string; state: string }[] };
    assert.deepEqual(page.jobs.map((j) => [j.task, j.state]), [['fx.fail', 'failed']]);
    assert.equal((await fetch(`${base}/jobs/work~not-a-job`)).status, 404);
  });

  test('errors holding NUL or a lone surrogate are recorded cleaned; records PostgreSQL still refuses are set aside, counted and readable, and history goes on', async () => {
    const prefix = project.config.prefix;
    const nul = await client.submit('fx.throw', { message: 'bad\u0000byte' });
    const lone = await client.submit('fx.throw', { message: 'half \ud83d of an emoji' });
    for (const j of [nul, lone]) await assert.rejects(client.waitFor(j.id, 30_000));
    // Records no cleaning makes acceptable, as an older or foreign writer could leave them: not JSON, a start that is not a time.
    const foreign = { jobId: 'work~foreign', task: 'fx.echo', queue: 'work', pool: 'main', replica: 'r', host: 'h', attempt: 1, maxAttempts: 1,
      submittedAt: 1, delay: 0, startedAt: 'soon', finishedAt: 2, outcome: 'completed', final: true, cost: 0 };
    await client.redis.rpush(`${prefix}:~history-runs`, 'not json {', JSON.stringify(foreign));
    const later = await client.submit('fx.echo', { value: 'after' });
    await client.waitFor(later.id, 30_000);
    await waitFor(async () => (await rows('SELECT id FROM trireme_jobs WHERE id = ANY($1) AND finished_at IS NOT NULL', [[nul.id, lone.id, later.id]])).length === 3,
      60_000, 'the three jobs in history');
    const errors = new Map((await rows('SELECT id, error FROM trireme_jobs WHERE id = ANY($1)', [[nul.id, lone.id]])).map((r) => [r.id, r.error]));
    assert.equal(errors.get(nul.id), 'bad\ufffdbyte', 'NUL replaced');
    assert.equal(errors.get(lone.id), 'half \ufffd of an emoji', 'the lone surrogate replaced');
    // The recorder goes on past the refused records: the outbox empties (other runs may still be on their way in).
    await waitFor(async () => (await house.recorder!.backlog()) === 0, 30_000, 'nothing left behind in the outbox');
    const rejected = (await client.redis.lrange(`${prefix}:~history-rejected`, 0, -1)).map((r) => JSON.parse(r) as { at: number; error: string; record: string });
    assert.deepEqual(rejected.map((r) => r.record), ['not json {', JSON.stringify(foreign)], 'kept as they were');
    assert.match(rejected[0].error, /not JSON/);
    assert.match(rejected[1].error, /bigint/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^trireme_history_rejected_records 2$/m);
    assert.match(metrics, /^trireme_history_waiting_records 0$/m);
  });

  test('a run lost with a replica killed by SIGKILL mid-job is recorded as lost, beside the run that finished the job', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trireme-lost-'));
    const config = join(dir, 'trireme.yml');
    writeFileSync(config, JSON.stringify({
      prefix: project.config.prefix, tasks: [FIXTURE_TASKS], defaultQueue: 'work', history: { postgres: postgres.url },
      pools: { main: { queues: ['work'] }, lossy: { queues: ['lossy'], concurrency: 1 } },
    }));
    const doomed = trireme(['-c', config, 'worker', '--pool', 'lossy', '--lock', '1s', '--stalled-interval', '500ms'], { TRIREME_REDIS_URL: redis.url });
    const registry = new ReplicaRegistry(client.redis, project.config.prefix);
    const replica = await waitFor(async () => (await registry.list('lossy')).find((r) => r.state === 'idle'), 30_000, `the lossy replica: ${doomed.output()}`);
    const pidFile = join(dir, 'job.pid');
    const job = await client.submit('fx.sleep', { ms: 1_500, pidFile }, { queue: 'lossy' });
    await waitFor(() => existsSync(pidFile), 30_000, 'the job running');
    // The replica notes the run in Redis beside starting it (not before: no round trip ahead of every job); a replica
    // killed before its note lands leaves no trace of the run, so the kill waits for the note.
    await waitFor(async () => (await client.redis.exists(keys.openRun(project.config.prefix, job.id))) === 1, 30_000, 'the run noted in Redis');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const rescuer = new PoolWorker({ project, pool: 'lossy', redisUrl: redis.url, lockDuration: 1_000, stalledInterval: 500 });
    await rescuer.start();
    try {
      await client.waitFor(job.id, 60_000);
      assert.equal((await client.getJob(job.id))?.starts, 2, 'BullMQ saw two starts');
      const [row] = await waitFor(async () => rows('SELECT runs, outcome, attempts FROM trireme_jobs WHERE id = $1 AND finished_at IS NOT NULL', [job.id]).then((r) => r.length ? r : undefined), 60_000, 'the job in history');
      assert.deepEqual([row.outcome, row.attempts, row.runs], ['completed', 1, 2], 'two runs for the two starts');
      const runs = await rows('SELECT replica, host, outcome, attempt, (extract(epoch FROM started_at) * 1000)::float8 AS started FROM trireme_runs WHERE job_id = $1 ORDER BY started_at', [job.id]);
      assert.deepEqual(runs.map((r) => [r.replica, r.outcome, r.attempt]), [[replica.id, 'lost', 1], [rescuer.id, 'completed', 1]]);
      assert.equal(runs[0].host, replica.host);
    } finally {
      await rescuer.drain(1_000);
    }
  });

  test('createController builds what serve builds: its housekeeping takes run records to PostgreSQL while it leads', async () => {
    const { createController } = await import('../../src/control.js');
    const { keys } = await import('../../src/redis/keys.js');
    const embedded = await fixtureProject({ scaling: { min: 0, max: 1 } }, { redis: { url: redis.url }, history: { postgres: postgres.url } });
    const controller = await createController({ project: embedded, redisUrl: redis.url, machine: { cpu: 2, memory: 2 ** 32, gpus: [] } });
    await controller.start();
    try {
      const record = { jobId: 'work~embedded-1', task: 'fx.echo', queue: 'work', pool: 'main', replica: 'elsewhere', host: 'h', attempt: 1, maxAttempts: 1, submittedAt: 1, delay: 0, startedAt: 2, finishedAt: 3, outcome: 'completed', final: true, cost: 0 };
      await client.redis.rpush(keys.historyRuns(embedded.config.prefix), JSON.stringify(record));
      await waitFor(async () => (await rows("SELECT outcome FROM trireme_jobs WHERE id = 'work~embedded-1'"))[0]?.outcome === 'completed', 30_000, 'the record in PostgreSQL');
    } finally {
      await controller.stop(1_000);
    }
  });
});
