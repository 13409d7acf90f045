/**
 * Warm runners (docs/runners.md) with real processes: the shipped Python runner on a module whose import takes 2 s,
 * and a Node runner written from the protocol's documentation alone (test/fixtures/runners/echo-runner.mjs), under
 * real `trireme worker` replicas and a real `serve`, against a private redis-server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Queue } from 'bullmq';
import { startRedis, waitFor, alive, ROOT, type TestRedis } from '../helpers.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { TriremeClient, type JobView } from '../../src/jobs/client.js';
import { ReplicaRegistry, StandbyRegistry } from '../../src/stores/registry.js';
import { trireme, reapAll, type Proc } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/runners.yml');
const FAST = ['--lock', '2s', '--stalled-interval', '500ms', '--heartbeat', '250ms'];
const tmp = mkdtempSync(join(tmpdir(), 'trireme-runners-test-'));
let redis: TestRedis;
let project: Project;
let client: TriremeClient;
let importLogs = 0;

/** A replica of `pool` whose Python runners append their pid to a fresh import log; resolves once it takes jobs. */
async function worker(pool: string, extraEnv: Record<string, string> = {}): Promise<Proc & { imports: () => { pid: number; at: number }[] }> {
  const log = join(tmp, `imports-${++importLogs}.log`);
  const w = trireme(['-c', CONFIG, 'worker', '--pool', pool, ...FAST], { TRIREME_REDIS_URL: redis.url, IMPORT_LOG: log, ...extraEnv });
  // A replica with warm runners takes jobs (is idle, not starting) only once they have loaded.
  await waitFor(async () => (await registry().list(pool)).some((r) => r.pid === w.child.pid && r.state === 'idle'), 120_000, `a ${pool} replica with its runners loaded: ${w.output().slice(-800)}`);
  const imports = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => { const [pid, at] = l.split(' '); return { pid: Number(pid), at: Number(at) * 1000 }; }) : []);
  return Object.assign(w, { imports });
}
const registry = () => new ReplicaRegistry(client.redis, project.config.prefix);
const stop = async (w: Proc) => { w.child.kill('SIGTERM'); return (await w.exited).code; };
/** Waits for a job to end either way; its view. */
const settled = (id: string, timeoutMs = 60_000) => waitFor(async () => {
  const v = await client.getJob(id);
  return v && (v.state === 'completed' || v.state === 'failed') ? v : undefined;
}, timeoutMs, `job ${id} to end`) as Promise<JobView>;
const logs = async (id: string) => {
  const q = new Queue(id.slice(0, id.indexOf('~')), { connection: client.redis, prefix: project.config.prefix });
  try { return (await q.getJobLogs(id, 0, -1, true)).logs; } finally { await q.close(); }
};

describe('warm runners', () => {
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

  test('100 jobs of a task whose module takes 2 s to import, concurrency 2: exactly 2 imports, both before the first job', async () => {
    const w = await worker('py');
    const jobs = await client.submitMany('py.pid', Array.from({ length: 100 }, (_, n) => ({ n })));
    const results = await Promise.all(jobs.map((j) => client.waitFor(j.id, 60_000))) as { pid: number; n: number }[];
    assert.deepEqual(results.map((r) => r.n), Array.from({ length: 100 }, (_, n) => n));
    const pids = new Set(results.map((r) => r.pid));
    const imports = w.imports();
    assert.equal(imports.length, 2, `imports: ${JSON.stringify(imports)}`);
    assert.deepEqual([...pids].sort(), imports.map((i) => i.pid).sort(), 'the two processes that imported ran every job');
    assert.ok(!pids.has(w.child.pid!), 'the jobs ran outside the replica');
    const [info] = await registry().list('py');
    assert.equal(info.runners?.[0].name, 'slow');
    assert.equal(info.runners?.[0].size, 2);
    assert.ok((info.runners?.[0].lastStartupMs ?? 0) >= 2_000, `the start-up reported includes the 2 s import: ${JSON.stringify(info.runners)}`);
    assert.equal(await stop(w), 0);
    for (const { pid } of imports) await waitFor(() => !alive(pid), 10_000, `runner ${pid} to exit with its replica`);
  });

  test('a recycled runner is the only reason for another import: maxTasksPerChild 10 (the pool\'s) over 30 jobs', async () => {
    const w = await worker('recycle');
    const jobs = await client.submitMany('pyr.pid', Array.from({ length: 30 }, (_, n) => ({ n })));
    const results = await Promise.all(jobs.map((j) => client.waitFor(j.id, 90_000))) as { pid: number }[];
    const perPid = new Map<number, number>();
    for (const r of results) perPid.set(r.pid, (perPid.get(r.pid) ?? 0) + 1);
    assert.ok([...perPid.values()].every((n) => n <= 10), `no runner ran more than 10: ${JSON.stringify([...perPid])}`);
    const retired = [...perPid.values()].filter((n) => n === 10).length;
    assert.ok(retired >= 2, `30 jobs on 2 slots retire at least 2 runners: ${JSON.stringify([...perPid])}`);
    // Each retired runner is replaced at once (eagerly: this pool keeps the runner warm), and nothing else imports.
    await waitFor(() => w.imports().length === 2 + retired, 60_000, `${2 + retired} imports, got ${w.imports().length}`);
    assert.equal(w.child.exitCode, null, 'the in-process replica does not recycle for jobs that ran in its runners');
    assert.equal(await stop(w), 0);
    assert.equal(w.imports().length, 2 + retired);
  });

  test('print() lines land in their own job\'s log, in order, with ctx.log and progress; ctx.workdir is the job\'s folder', async () => {
    const w = await worker('py');
    const tags = ['a', 'b', 'c', 'd', 'e', 'f'];
    const jobs = await Promise.all(tags.map((tag) => client.submit('py.print', { tag, lines: 25, gapMs: tag < 'd' ? 1 : 0 })));
    await Promise.all(jobs.map((j) => client.waitFor(j.id, 60_000)));
    for (const [i, j] of jobs.entries()) {
      assert.deepEqual(await logs(j.id), [...Array.from({ length: 25 }, (_, n) => `${tags[i]} line ${n + 1}`), 'logged through ctx']);
      assert.equal((await client.getJob(j.id))?.progress, 100);
    }
    // ctx.workdir: the job's folder on storage.dir, its output/ ready to write to.
    const files = await client.submit('py.files', {});
    const { workdir } = await client.waitFor(files.id, 60_000) as { workdir: string };
    assert.equal(workdir, join(ROOT, 'test/fixtures/.trireme/runner-storage/jobs', files.id));
    assert.equal(readFileSync(join(workdir, 'output/result.txt'), 'utf8'), `written by ${files.id}`);
    assert.equal(await stop(w), 0);
  });

  test('a raised exception fails the job with the Python traceback; a task\'s retries apply', async () => {
    const w = await worker('py');
    const failed = await settled((await client.submit('py.raise', { x: 42 })).id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error!, /^ValueError: bad input: 42\nTraceback \(most recent call last\):/);
    assert.match(failed.error!, /slow_import\.py", line \d+, in boom[\s\S]*in _deeper\n\s+raise ValueError/);
    assert.doesNotMatch(failed.error!, /trireme\.py/, 'the traceback starts in the task, not in the runner');
    assert.equal(failed.attempts, 1, 'retries 0 by default');
    const retried = await client.submit('py.retry', {});
    assert.deepEqual(await client.waitFor(retried.id, 60_000), { attempt: 2 });
    assert.equal(await stop(w), 0);
  });

  test('a job past its time limit is killed with its runner, which is replaced, and the next job runs', async () => {
    const w = await worker('py');
    const [a, b] = w.imports().map((i) => i.pid);
    const slow = await settled((await client.submit('py.sleep', { ms: 20_000 })).id);
    assert.equal(slow.state, 'failed');
    assert.match(slow.error!, /^time limit of 3000 ms exceeded: runner "slow" \(pid \d+\) was killed and is replaced$/);
    const killed = Number(/pid (\d+)/.exec(slow.error!)![1]);
    assert.ok([a, b].includes(killed));
    await waitFor(() => !alive(killed), 10_000, 'the runner past its limit to be gone');
    const after = await Promise.all([client.submit('py.pid', {}), client.submit('py.pid', {})].map(async (p) => client.waitFor((await p).id, 60_000))) as { pid: number }[];
    for (const r of after) assert.notEqual(r.pid, killed);
    await waitFor(() => w.imports().length === 3, 60_000, 'one replacement import');
    assert.equal(await stop(w), 0);
  });

  test('a runner that exits in the middle of a job fails it with a clear reason, and the pool goes on', async () => {
    const w = await worker('py');
    const died = await settled((await client.submit('py.exit', {})).id);
    assert.equal(died.state, 'failed');
    assert.match(died.error!, /^runner "slow" \(pid \d+\) exited with code 3 in the middle of the job: exiting with 3$/);
    assert.deepEqual(await logs(died.id), ['about to exit', '[stderr] exiting with 3']);
    const next = await Promise.all(Array.from({ length: 4 }, async () => client.waitFor((await client.submit('py.pid', {})).id, 60_000))) as { pid: number }[];
    assert.ok(next.every((r) => r.pid > 0));
    assert.equal(w.child.exitCode, null, 'the replica stays');
    assert.equal(await stop(w), 0);
  });

  test('maxMemory: a runner grown past it after a job is replaced (the job keeps its result); one growing past it during a job is killed', async () => {
    const w = await worker('py');
    // The runner grows once its job has ended (a thread of the task's), so no check during a job can see it: the
    // check after its next job must. Growing inside a short job would race the once-a-second check during the job.
    const marker = join(tmp, 'grown');
    const grew = await client.waitFor((await client.submit('py.alloc', { mb: 400, afterMs: 200, marker })).id, 60_000) as { pid: number };
    await waitFor(() => existsSync(marker), 60_000, 'the runner grown past maxMemory (300Mi), idle');
    // Its next job (the pool has two runners: jobs until one lands on it) keeps its result, then the runner goes.
    for (let tries = 0; ; tries++) {
      const ran = await client.waitFor((await client.submit('py.pid', {})).id, 60_000) as { pid: number };
      if (ran.pid === grew.pid) break;
      assert.ok(tries < 20, 'a job reached the grown runner');
    }
    await waitFor(() => !alive(grew.pid), 10_000, 'the runner past maxMemory (300Mi) to be retired after that job');
    await waitFor(() => w.imports().length === 3, 60_000, 'its replacement');
    const held = await settled((await client.submit('py.alloc', { mb: 400, holdMs: 2_500 })).id);
    assert.equal(held.state, 'failed');
    assert.match(held.error!, /^runner "slow" \(pid \d+\) used [\d.]+Mi with its children, past maxMemory \(300Mi\): killed and replaced$/);
    const next = await client.waitFor((await client.submit('py.pid', {})).id, 60_000) as { pid: number };
    assert.notEqual(next.pid, Number(/pid (\d+)/.exec(held.error!)![1]), 'the next job runs on another runner');
    assert.equal(await stop(w), 0);
  });

  test('cancel reaches the Python task first (Cancelled, its finally runs) and the runner stays, model loaded', async () => {
    const w = await worker('py');
    const job = await client.submit('py.sleep', { ms: 20_000 });
    await waitFor(async () => (await client.getJob(job.id))?.state === 'active', 10_000, 'the job to run');
    const busyPid = async () => (await registry().list('py'))[0]?.runners?.[0].busy === 1;
    await waitFor(busyPid, 10_000, 'the runner busy');
    await client.cancel(job.id);
    const view = await settled(job.id);
    assert.equal(view.state, 'failed');
    assert.equal(view.error, 'cancelled');
    await waitFor(async () => (await logs(job.id)).includes('cleaned up after cancel'), 10_000, 'the task\'s finally to log');
    // No process was killed or started: both runners serve the next jobs, and there were only the 2 imports.
    const next = await Promise.all([0, 1].map(async () => client.waitFor((await client.submit('py.pid', {})).id, 60_000))) as { pid: number }[];
    const pids = w.imports().map((i) => i.pid);
    for (const r of next) assert.ok(pids.includes(r.pid));
    assert.equal(w.imports().length, 2);
    assert.equal(await stop(w), 0);
  });

  test('the Node runner written from docs/runners.md: result, log lines in order, progress, errors, exits, hangs, cancel', async () => {
    const w = await worker('node');
    const echo = await client.submit('node.echo', { a: 1 });
    assert.deepEqual(await client.waitFor(echo.id, 20_000), { echo: { a: 1 }, task: 'node.echo', queue: 'node' });
    assert.deepEqual(await logs(echo.id), [`echo ${echo.id} attempt 1`, '[stderr] a line on stderr', 'a log line']);
    assert.equal((await client.getJob(echo.id))?.progress, 50);
    // retry: false in the reply fails the job for good, whatever its retries.
    const fail = await settled((await client.submit('node.fail', {}, { retries: 2 })).id);
    assert.match(fail.error!, /^Error: failed on purpose\nError: failed on purpose\n\s+at /);
    assert.equal(fail.attempts, 1);
    const exit = await settled((await client.submit('node.exit', {})).id);
    assert.match(exit.error!, /^runner "node" \(pid \d+\) exited with code 7 in the middle of the job: about to exit$/);
    const hang = await settled((await client.submit('node.hang', {})).id);
    assert.match(hang.error!, /^time limit of 2000 ms exceeded: runner "node"/);
    // A runner that hears a cancel answers it and stays; the next job runs on the same process.
    const { pid } = await client.waitFor((await client.submit('node.pid', {})).id, 20_000) as { pid: number };
    const heard = await client.submit('node.hang', { hearCancel: true });
    // The job's own word that it runs in the runner (a heartbeat's busy count may still be the last job's).
    await waitFor(async () => (await client.getJob(heard.id))?.progress === 1, 60_000, 'the hang running in the runner');
    await client.cancel(heard.id);
    assert.equal((await settled(heard.id)).error, 'cancelled');
    const again = await client.waitFor((await client.submit('node.pid', {})).id, 20_000) as { pid: number; jobs: number };
    assert.equal(again.pid, pid);
    assert.equal(again.jobs, 2, 'it ran node.pid and the cancelled hang');
    // A task the config lists but the runner did not name at ready fails at once, saying so, without a retry.
    const missing = await settled((await client.submit('node.missing', {}, { retries: 2 })).id);
    assert.match(missing.error!, /^runner "node" \(pid \d+\) does not serve task "node\.missing" \(it serves: node\.echo, .*\); register it in the runner's code, or take it out of runners\.node\.tasks$/);
    assert.equal(missing.attempts, 1);
    assert.match(w.output(), /does not serve node\.missing, which runners\.node\.tasks lists/);
    assert.equal(await stop(w), 0);
  });

  test('a runner that cannot load: the replica starts anyway, the job fails with the import error, the start is retried later', async () => {
    const log = join(tmp, 'broken.log');
    const w = trireme(['-c', CONFIG, 'worker', '--pool', 'broken', ...FAST], { TRIREME_REDIS_URL: redis.url, IMPORT_LOG: log });
    await waitFor(async () => (await registry().list('broken')).some((r) => r.state === 'idle' && r.runners?.[0]?.failedStarts === 1), 60_000, `the replica up, its runner failed: ${w.output().slice(-800)}`);
    const [info] = await registry().list('broken');
    assert.match(info.runners![0].lastError!, /^runner "broken" \(pid \d+\) exited with code 1 before it was ready: .*ModuleNotFoundError: No module named 'a_module_that_is_not_installed'$/);
    const job = await settled((await client.submit('broken.x', {})).id);
    assert.equal(job.state, 'failed');
    assert.match(job.error!, /exited with code 1 before it was ready: .*ModuleNotFoundError/);
    await waitFor(async () => (await registry().list('broken'))[0].runners![0].failedStarts >= 2, 10_000, 'the job\'s own start attempt to have failed too');
    assert.match(w.output(), /"msg":"runner failed to start"/);
    assert.equal(await stop(w), 0);
  });

  test('Debian\'s /usr/bin/python3 runs the same runner file (interpreter:)', { skip: !existsSync('/usr/bin/python3') && 'no /usr/bin/python3' }, async () => {
    const w = await worker('deb', { IMPORT_SECONDS: '0' });
    const r = await client.waitFor((await client.submit('deb.version', {})).id, 60_000) as { executable: string };
    assert.equal(r.executable, '/usr/bin/python3');
    assert.equal(await stop(w), 0);
  });

  test('a pool at zero: its standby loads the runner, so the first job after the wake finds it loaded; metrics and /workers show it', { timeout: 180_000 }, async () => {
    const config = join(ROOT, 'test/fixtures/runners-standby.yml');
    const log = join(tmp, 'imports-standby.log');
    const serve = trireme(['-c', config, 'serve', '--port', '0', '--grace', '5s'], { TRIREME_REDIS_URL: redis.url, IMPORT_LOG: log });
    const base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 60_000, `serve to listen: ${serve.output()}`);
    const standbyProject = await loadProject(config, { TRIREME_REDIS_URL: redis.url });
    const standbyClient = new TriremeClient(standbyProject, redis.url);
    try {
      const standbys = new StandbyRegistry(standbyClient.redis, standbyProject.config.prefix);
      await waitFor(async () => (await standbys.list()).some((s) => s.pool === 'py' && s.runners?.[0]?.idle === 2), 60_000, 'the py standby with 2 runners loaded');
      assert.equal((await new ReplicaRegistry(standbyClient.redis, standbyProject.config.prefix).list('py')).length, 0, 'the pool is at zero');
      const submittedAt = Date.now();
      const job = await standbyClient.submit('py.pid', {});
      const { pid } = await standbyClient.waitFor(job.id, 60_000) as { pid: number };
      const imports = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
      const imported = imports.find(([p]) => p === pid);
      assert.ok(imported, `the job's runner ${pid} is one the standby loaded: ${JSON.stringify(imports)}`);
      assert.ok(imported[1] * 1000 < submittedAt, 'its import was over before the job was submitted');
      const workers = await (await fetch(`${base}/workers?pool=py`)).json() as { replicas: { runners?: { name: string; lastStartupMs?: number }[] }[] };
      assert.equal(workers.replicas[0]?.runners?.[0].name, 'slow');
      assert.ok((workers.replicas[0]?.runners?.[0].lastStartupMs ?? 0) >= 2_000);
      const text = await waitFor(async () => {
        const t = await (await fetch(`${base}/metrics`)).text();
        return /^trireme_runner_startup_seconds_count\{pool="py",runner="slow"\} [1-9]/m.test(t) ? t : undefined;
      }, 20_000, 'the runner start-ups in /metrics');
      assert.match(text, /^trireme_runner_startup_seconds_bucket\{pool="py",runner="slow",le="1"\} 0$/m, 'a 2 s start-up is not under 1 s');
      // No upper bound: a busy machine may take longer than the 2 s import to start Python.
      assert.match(text, /^trireme_runner_startup_seconds_bucket\{pool="py",runner="slow",le="\+Inf"\} [1-9]/m);
      assert.match(text, /^trireme_runner_processes\{pool="py",runner="slow",state="idle"\} [1-9]/m);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    } finally {
      await standbyClient.close();
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  });
});
