/**
 * The engine against a real redis-server and real worker processes: crashes, kills, drains, time limits, Redis
 * restarts, recycling. Workers run with short locks so that recovery takes seconds, not the 30 s default.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { startRedis, waitFor, alive, ROOT, type TestRedis } from '../helpers.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { trireme, reapAll, run } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/pools.yml');
const FAST = ['--lock', '2s', '--stalled-interval', '500ms', '--heartbeat', '250ms'];
let redis: TestRedis;
let project: Project;
let client: TriremeClient;
const tmp = mkdtempSync(join(tmpdir(), 'trireme-worker-test-'));

const worker = (pool: string, extra: string[] = []) => trireme(['-c', CONFIG, 'worker', '--pool', pool, ...FAST, ...extra], { TRIREME_REDIS_URL: redis.url });
const registry = () => new ReplicaRegistry(client.redis, project.config.prefix);
const replicasUp = (pool: string, n: number) => waitFor(async () => (await registry().list(pool)).filter((r) => r.state !== 'starting').length >= n, 15_000, `${n} ${pool} replica(s)`);
const state = async (id: string) => (await client.getJob(id))?.state;

describe('worker processes', () => {
  before(async () => {
    redis = await startRedis();
    project = await loadProject(CONFIG, { TRIREME_REDIS_URL: redis.url });
    client = new TriremeClient(project, redis.url);
  });
  after(async () => {
    await reapAll();
    await client.close();
    await redis.stop();
  });

  test('a job whose worker is killed with kill -9 is run again by another replica and completes', async () => {
    const a = worker('main');
    const b = worker('main');
    await replicasUp('main', 2);
    const pidFile = join(tmp, 'kill9.pid');
    const job = await client.submit('fx.sleep', { ms: 1500, pidFile });
    const pid = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8'), 10_000, 'the job to start'));
    const victim = [a, b].find((w) => w.child.pid === pid)!;
    const survivor = victim === a ? b : a;
    victim.child.kill('SIGKILL');
    const result = await client.waitFor(job.id, 20_000) as { pid: number };
    assert.equal(result.pid, survivor.child.pid, 'the surviving replica ran it');
    const view = await client.getJob(job.id);
    assert.equal(view?.state, 'completed');
    // The dead replica leaves the registry within a few heartbeats.
    await waitFor(async () => !(await registry().list('main')).some((r) => r.pid === pid), 5_000, 'the dead replica to leave the registry');
    survivor.child.kill('SIGTERM');
    assert.equal((await survivor.exited).code, 0);
  });

  test('a replica whose parent dies while it is still connecting (start() not finished) drains and exits', async () => {
    // A Redis that accepts connections and never answers: the replica is inside start() for as long as we like.
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const blackHole = createServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', () => r()));
    const port = (blackHole.address() as import('node:net').AddressInfo).port;
    const parent = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const w = trireme(['-c', CONFIG, 'worker', '--pool', 'main', ...FAST], { TRIREME_REDIS_URL: `redis://127.0.0.1:${port}`, TRIREME_PARENT_PID: String(parent.pid) });
    try {
      await waitFor(() => sockets.length > 0, 30_000, 'the replica to connect to the silent Redis');
      assert.equal(w.child.exitCode, null, 'still starting');
      parent.kill('SIGKILL');
      const { code } = await w.exited;
      assert.equal(code, 0, w.output());
      assert.match(w.output(), /draining/);
    } finally {
      parent.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      blackHole.close();
    }
  });

  test('SIGTERM to a replica with nothing running exits at once, not after its grace (10 minutes here)', async () => {
    const w = worker('main', ['--grace', '10m']);
    await replicasUp('main', 1);
    w.child.kill('SIGTERM');
    // A ceiling far below the grace: a replica that waited out its grace would miss it.
    const exit = await Promise.race([w.exited, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 120_000).unref())]);
    assert.notEqual(exit, 'waiting', `still draining 2 minutes after SIGTERM: ${w.output().slice(-500)}`);
    assert.equal((exit as { code: number | null }).code, 0);
  });

  test('SIGTERM with a 10 s grace: the running 3 s job completes and the worker exits 0', async () => {
    const w = worker('main', ['--grace', '10s']);
    await replicasUp('main', 1);
    // Started means the task began (it writes its pid): BullMQ marks a fetched job active a moment before, and a
    // job fetched but not begun when the drain starts goes back to its queue, as it should.
    const pidFile = join(tmp, 'grace10.pid');
    const job = await client.submit('fx.sleep', { ms: 3000, pidFile });
    await waitFor(() => existsSync(pidFile), 30_000, 'the job to start');
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
    assert.equal(await state(job.id), 'completed');
  });

  test('SIGTERM with a 1 s grace: the job goes back to waiting and another replica completes it', async () => {
    const first = worker('main', ['--grace', '1s']);
    await replicasUp('main', 1);
    const job = await client.submit('fx.sleep', { ms: 3000 });
    await waitFor(async () => (await state(job.id)) === 'active', 10_000, 'the job to start');
    first.child.kill('SIGTERM');
    assert.equal((await first.exited).code, 0);
    assert.equal(await state(job.id), 'waiting', 'handed back, not failed or lost');
    const second = worker('main');
    const result = await client.waitFor(job.id, 20_000) as { pid: number };
    assert.equal(result.pid, second.child.pid);
    second.child.kill('SIGTERM');
    await second.exited;
  });

  test('a process-isolated job past its time limit fails and its child process is really killed', async () => {
    const w = worker('iso');
    await replicasUp('iso', 1);
    const pidFile = join(tmp, 'hang.pid');
    const job = await client.submit('iso.hang', { pidFile }, { queue: 'isolated' }).catch(() => null);
    // iso.* is not a task name: submit fx.hang to the isolated queue explicitly.
    assert.equal(job, null);
    const hang = await client.submit('fx.hang', { pidFile }, { queue: 'isolated', retries: 1 });
    await assert.rejects(client.waitFor(hang.id, 20_000), /time limit of 1000 ms exceeded/);
    const view = await client.getJob(hang.id);
    assert.equal(view?.attempts, 2, 'retried once as its retry policy says');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.notEqual(pid, w.child.pid);
    await waitFor(() => !alive(pid), 5_000, 'the stuck child to be gone');
    w.child.kill('SIGTERM');
    await w.exited;
  });

  test('a process-isolated replica running a job is busy with running 1, and idle again after it', async () => {
    // Its state once read idle with running 1: the controller drains idle replicas first, so it would drain a busy one.
    const w = worker('warm');
    await replicasUp('warm', 1);
    const job = await client.submit('fx.sleep', { ms: 3000 }, { queue: 'warm' });
    await waitFor(async () => (await state(job.id)) === 'active', 15_000, 'the job running');
    const busy = await waitFor(async () => (await registry().list('warm')).find((r) => r.running === 1), 15_000, 'the heartbeat with the job');
    assert.equal(busy.state, 'busy');
    await client.waitFor(job.id, 30_000);
    await waitFor(async () => (await registry().list('warm')).some((r) => r.running === 0 && r.state === 'idle'), 15_000, 'idle again');
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });

  for (const pool of ['warm', 'threads'] as const) {
    test(`${pool === 'warm' ? 'process' : 'thread'} isolation reuses a warm runner until maxTasksPerChild, then a fresh one takes over; the replica stays`, async () => {
      const w = worker(pool);
      await replicasUp(pool, 1);
      const ran: { pid: number; thread: number }[] = [];
      for (let i = 0; i < 5; i++) {
        const job = await client.submit('fx.where', {}, { queue: pool });
        ran.push(await client.waitFor(job.id, 20_000) as { pid: number; thread: number });
      }
      // A runner is a child process (process isolation) or a worker thread of the replica (thread isolation).
      const runner = (r: { pid: number; thread: number }) => (pool === 'warm' ? r.pid : r.thread);
      if (pool === 'warm') for (const r of ran) assert.notEqual(r.pid, w.child.pid, 'the job ran outside the replica');
      else for (const r of ran) { assert.equal(r.pid, w.child.pid); assert.notEqual(r.thread, 0, 'the job ran off the main thread'); }
      const ids = ran.map(runner);
      assert.equal(ids[0], ids[1], 'the second job reused the first runner');
      assert.notEqual(ids[2], ids[1], 'after 2 jobs (maxTasksPerChild) the runner was replaced');
      assert.equal(ids[2], ids[3]);
      assert.notEqual(ids[4], ids[3]);
      assert.equal(w.child.exitCode, null, 'the replica itself did not recycle');
      w.child.kill('SIGTERM');
      assert.equal((await w.exited).code, 0);
    });
  }

  test('a crashing job fails after its retries without taking other jobs down', async () => {
    const w = worker('iso');
    await replicasUp('iso', 1);
    const crash = await client.submit('fx.crash', {}, { queue: 'isolated', retries: 1 });
    const ok = await client.submit('fx.echo', { value: 'still here' }, { queue: 'isolated' });
    await assert.rejects(client.waitFor(crash.id, 20_000), /exited with code 3/);
    assert.equal((await client.getJob(crash.id))?.attempts, 2);
    assert.deepEqual((await client.waitFor(ok.id, 20_000) as { echoed: string }).echoed, 'still here');
    assert.equal(w.child.exitCode, null, 'the replica is still up');
    w.child.kill('SIGTERM');
    await w.exited;
  });

  test('Redis restarted while workers run: they reconnect and carry on', async () => {
    const w = worker('main');
    await replicasUp('main', 1);
    const before = await client.submit('fx.echo', { value: 1 });
    await client.waitFor(before.id, 10_000);
    await redis.kill();
    await redis.start();
    const afterJob = await waitFor(() => client.submit('fx.echo', { value: 2 }), 10_000, 'a submit after the restart');
    assert.deepEqual((await client.waitFor(afterJob.id, 20_000) as { echoed: number }).echoed, 2);
    assert.equal(w.child.exitCode, null);
    w.child.kill('SIGTERM');
    assert.equal((await w.exited).code, 0);
  });

  test('a command task streams its output into the job log and returns its last JSON line', async () => {
    const w = worker('main');
    await replicasUp('main', 1);
    const job = await client.submit('fx.cmd', { hello: 'world' });
    assert.deepEqual(await client.waitFor(job.id, 20_000), { got: { hello: 'world' } });
    const { logs } = await client.queue('work').getJobLogs(job.id);
    // stdout and stderr are two pipes: their lines interleave in no fixed order, each stream's own order is kept.
    assert.deepEqual([...logs].sort(), ['[stderr] to stderr', 'first line', '{"got": {"hello": "world"}}']);
    const bad = await client.submit('fx.cmdfail', {});
    await assert.rejects(client.waitFor(bad.id, 20_000), /exited with code 4/);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  test('a worker recycles after maxTasksPerChild without dropping work, exiting 75', async () => {
    const cfg = join(tmp, 'recycle.yml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(cfg, readFileSync(CONFIG, 'utf8').replace('drainGrace: 10s }', 'drainGrace: 10s, maxTasksPerChild: 3 }').replace('./tasks.ts', join(ROOT, 'test/fixtures/tasks.ts')).replace('./echo.py', join(ROOT, 'test/fixtures/echo.py')).replace('./echo.py', join(ROOT, 'test/fixtures/echo.py')));
    const w = trireme(['-c', cfg, 'worker', '--pool', 'main', ...FAST], { TRIREME_REDIS_URL: redis.url });
    const jobs = await Promise.all(Array.from({ length: 5 }, (_, i) => client.submit('fx.sleep', { ms: 200 + i })));
    assert.equal((await w.exited).code, 75);
    const done = (await Promise.all(jobs.map((j) => state(j.id)))).filter((s) => s === 'completed').length;
    assert.ok(done >= 3, `at least maxTasksPerChild jobs completed (${done})`);
    const next = worker('main');
    for (const j of jobs) await client.waitFor(j.id, 20_000);
    next.child.kill('SIGTERM');
    await next.exited;
  });

  test('an invalid config exits 2 with one clear message per mistake', async () => {
    const cfg = join(tmp, 'bad.yml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(cfg, 'pools:\n  heavy:\n    queues: [shap]\n    scaling: { min: 3, max: 1 }\n    concurency: 2\n');
    const r = await run(['-c', cfg, 'worker', '--pool', 'heavy'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(r.code, 2);
    assert.match(r.out, /pools\.heavy\.scaling\.max: must be >= min \(3\)/);
    assert.match(r.out, /pools\.heavy: unknown field\(s\) "concurency"/);
    assert.match(r.out, /defaultQueue: queue "default" is served by no pool/);
    assert.doesNotMatch(r.out, /at .*\.ts:\d+/, 'no stack trace without --debug');
    const missing = await run(['-c', join(tmp, 'nope.yml'), 'worker', '--pool', 'x']);
    assert.equal(missing.code, 2);
    assert.match(missing.out, /cannot read .*nope\.yml: ENOENT/);
  });

  test('submit refuses unknown tasks and bad payloads, naming the field', async () => {
    const unknown = await run(['-c', CONFIG, 'submit', 'fx.nope'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(unknown.code, 2);
    assert.match(unknown.out, /unknown task "fx\.nope"; known tasks: .*fx\.echo/);
    const bad = await run(['-c', CONFIG, 'submit', 'fx.square', '--data', '{"n":"three"}'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(bad.code, 2);
    assert.match(bad.out, /payload for "fx\.square" is invalid: n: expected a number/);
    const json = await run(['-c', CONFIG, 'submit', 'fx.square', '--data', '{n:3}'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(json.code, 2);
    assert.match(json.out, /--data is not valid JSON/);
  });

  test('a group of N runs completes with the children\'s results in order; --wait prints them', async () => {
    const w = worker('main');
    await replicasUp('main', 1);
    const r = await run(['-c', CONFIG, 'submit', 'fx.square', '--group', JSON.stringify(Array.from({ length: 20 }, (_, i) => ({ n: i }))), '--wait', '--json'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(r.code, 0, r.out);
    const out = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(out.state, 'completed');
    assert.deepEqual(out.result, Array.from({ length: 20 }, (_, i) => i * i));
    w.child.kill('SIGTERM');
    await w.exited;
  });

  test('idempotency keys make a retried submit the same job', async () => {
    const a = await client.submit('fx.echo', { value: 1 }, { idempotencyKey: 'order-42' });
    const b = await client.submit('fx.echo', { value: 2 }, { idempotencyKey: 'order-42' });
    assert.equal(a.id, b.id);
    assert.equal((await client.queue('work').getJobCounts('waiting')).waiting, 1);
  });
});
