/**
 * Autoscaling end to end: real `trireme serve` processes with the local driver, real workers, a real redis-server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { tmpdir } from 'node:os';
import { startRedis, waitFor, alive, ROOT, CLI, type TestRedis } from '../helpers.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { findLocalRedis } from '../../src/jobs/create-client.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { Lease } from '../../src/stores/lease.js';
import { StandbyRegistry } from '../../src/stores/registry.js';
import { trireme, reapAll, run } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/autoscale.yml');
let redis: TestRedis;
let project: Project;
let client: TriremeClient;
let store: ControlStore;

const serve = (config = CONFIG) => trireme(['-c', config, 'serve', '--grace', '15s'], { TRIREME_REDIS_URL: redis.url });
const replicas = async (pool: string) => new ReplicaRegistry(client.redis, project.config.prefix).list(pool);

/**
 * `serve` on a copy of the fixture config with no Redis, so that it starts its private one, in its own process group
 * (as a terminal runs it); resolves once it listens, with the private Redis's URL and the project read from the copy.
 */
async function privateServe(name: string, dir = privateConfig(name).dir) {
  const config = join(dir, 'trireme.yml');
  const child = spawn(process.execPath, [CLI, '-c', config, 'serve', '--grace', '15s'], { detached: true, env: { ...process.env, TRIREME_REDIS_URL: '', TRIREME_LOG_FORMAT: 'json', TRIREME_PARENT_PID: String(process.pid) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => { text += d; });
  child.stderr!.on('data', (d) => { text += d; });
  const out = () => text;
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  try {
    await waitFor(() => /dashboard and API at/.test(text), 60_000, `serve to listen: ${text.slice(-500)}`);
  } catch (e) {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    throw e;
  }
  // Its URL as every command finds it: the port and the password under .trireme/redis (the notice hides the password).
  const url = (await findLocalRedis(config))!;
  const p = await loadProject(config, { TRIREME_REDIS_URL: url });
  return { dir, config, child, out, exited, url, p };
}

/** A copy of the fixture config with no Redis, in a folder of its own. */
function privateConfig(name: string): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), `trireme-${name}-`));
  const config = join(dir, 'trireme.yml');
  writeFileSync(config, readFileSync(CONFIG, 'utf8').replace('tasks: [./tasks.ts]', `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/tasks.ts'))}]`));
  return { dir, config };
}

/** Stops the private Redis of a config if one is left running (a test that failed half-way, serve killed with -9). */
async function stopPrivateRedis(config: string): Promise<void> {
  const url = await findLocalRedis(config);
  if (!url) return;
  const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  await r.shutdown('NOSAVE').catch(() => {});
  r.disconnect();
}

/** Every path under a folder. */
const walk = (dir: string): string[] => readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f)));

describe('trireme serve', () => {
  before(async () => {
    redis = await startRedis();
    project = await loadProject(CONFIG, { TRIREME_REDIS_URL: redis.url });
    client = new TriremeClient(project, redis.url);
    store = new ControlStore(client.redis, project.config.prefix);
  });
  after(async () => {
    await reapAll();
    await client.close();
    await redis.stop();
  });

  test('a heavy pool at zero wakes on submit, grows to what the policy says, completes all, returns to zero', async () => {
    const s = serve();
    await waitFor(async () => (await replicas('light')).length === 1, 20_000, 'the light pool at its min');
    assert.equal((await replicas('heavy')).length, 0);
    const submittedAt = Date.now();
    // One batch, so that the wake's pass sees all five jobs (five submits one by one race the wake).
    const jobs = await client.submitMany('fx.sleep', Array.from({ length: 5 }, () => ({ ms: 1500 })));
    const up = await waitFor(async () => (await store.events()).find((e) => e.pool === 'heavy' && e.to > e.from), 30_000, 'a heavy scale-up');
    // How soon is a figure (bench:wake measures it), not a bound here: the wake itself is tested in virtual time.
    console.log(`# heavy scaled up ${up.at - submittedAt} ms after the submit`);
    assert.equal(up.to, 3, 'load 5 on a max-3 pool: straight to 3');
    assert.match(up.reason, /^heavy: load \d >= 1, max 3, 0 -> 3$/);
    for (const j of jobs) await client.waitFor(j.id, 30_000);
    for (const j of jobs) assert.equal((await client.getJob(j.id))?.attempts, 1);
    // Idle 3 s, then to zero; the replicas drain and leave the registry.
    const down = await waitFor(async () => (await store.events()).find((e) => e.pool === 'heavy' && e.to === 0), 20_000, 'heavy back to zero');
    assert.match(down.reason, /idle \d+s >= 3s: to min/);
    await waitFor(async () => (await replicas('heavy')).length === 0, 15_000, 'heavy replicas gone');
    // What the autoscaler learned of heavy is in Redis for the next leader: the burst's start and end, an idle spell.
    const learned = (await store.learned()).heavy as { idle: { lastLoadAt: number; burstAt: number; idleSince?: number } };
    assert.ok(learned.idle.burstAt >= submittedAt - 1_000 && learned.idle.lastLoadAt >= learned.idle.burstAt, JSON.stringify(learned));
    assert.equal(learned.idle.idleSince, learned.idle.lastLoadAt, 'idle since its last load');
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });

  test('a pool at zero gets its first replica from the standby, which is replaced at once; standby: false keeps none', async () => {
    const s = serve();
    const standbys = new StandbyRegistry(client.redis, project.config.prefix);
    const first = await waitFor(async () => (await standbys.list())[0], 20_000, 'a standby to be ready');
    assert.equal(first.pool, '', 'one host standby serves the env-less heavy pool');
    assert.ok(first.rss > 0);
    const job = await client.submit('fx.sleep', { ms: 200 });
    await client.waitFor(job.id, 20_000);
    const replica = (await replicas('heavy')).find((r) => r.pid === first.pid);
    assert.ok(replica, 'the heavy replica is the process that was the standby');
    const next = await waitFor(async () => (await standbys.list()).find((x) => x.pid !== first.pid), 20_000, 'a new standby');
    assert.notEqual(next.pid, first.pid);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
    await waitFor(async () => (await standbys.list()).length === 0, 10_000, 'the standby to leave with serve');

    const off = serve(join(ROOT, 'test/fixtures/autoscale-no-standby.yml'));
    await waitFor(async () => (await replicas('light')).length === 1, 20_000, 'light at its min');
    await new Promise((r) => setTimeout(r, 1_500)); // several loop passes: a standby would have been started by now
    assert.deepEqual(await standbys.list(), []);
    off.child.kill('SIGTERM');
    assert.equal((await off.exited).code, 0);
  });

  test('status marks a decision left by a controller that is gone as stale', async () => {
    await store.saveDecisions([{ at: Date.now() - 600_000, pool: 'heavy', desired: 2, current: 2, direction: 'hold', reason: 'heavy: load 2 >= 1, 2 -> 2', cooldownRemaining: 0, min: 0, max: 3, leader: 'gone', arrivalRate: 0, completionRate: 0, serviceTime: 0 }]);
    const st = await run(['-c', CONFIG, 'status'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(st.code, 0, st.out);
    assert.match(st.out, /heavy: load 2 >= 1, 2 -> 2\s+\(stale: 10m(\d+s)? old\)/);
  });

  test('a pin above max is refused by the CLI with the API\'s words, and nothing is written', async () => {
    for (const n of ['4', '1e9']) {
      const pin = await run(['-c', CONFIG, 'scale', 'heavy', n], { TRIREME_REDIS_URL: redis.url });
      assert.equal(pin.code, 2, pin.out);
    }
    assert.match((await run(['-c', CONFIG, 'scale', 'heavy', '4'], { TRIREME_REDIS_URL: redis.url })).out, /replicas 4 is above the pool's max of 3; raise pools\.heavy\.scaling\.max first/);
    assert.match((await run(['-c', CONFIG, 'scale', 'heavy', '1e9'], { TRIREME_REDIS_URL: redis.url })).out, /replicas must be a whole number >= 0, got "1e9"/);
    assert.equal((await store.overrides()).heavy, undefined);
  });

  test('Ctrl-C with the private Redis: replicas drain, the running job finishes, the Redis stops last', async () => {
    // Ctrl-C signals the terminal's whole process group.
    const { dir, child, out, exited, url, p } = await privateServe('ctrlc');
    try {
      const c = new TriremeClient(p, url);
      // Running means the task began (it writes its pid file), not just fetched: a fetched job not yet begun when a
      // drain starts goes back to its queue.
      const pidFile = join(dir, 'job.pid');
      const job = await c.submit('fx.sleep', { ms: 3000, pidFile });
      await waitFor(() => existsSync(pidFile), 30_000, 'the job running');
      await c.close();
      process.kill(-child.pid!, 'SIGINT');
      assert.equal(await exited, 0, out().slice(-2000));
      assert.match(out(), /"msg":"replica stopped"/);
      assert.doesNotMatch(out(), /ECONNREFUSED/, 'nothing talked to a Redis that was already gone');
      assert.doesNotMatch(out(), /"signal":"SIGKILL"/, 'no replica had to be killed');
      // The job finished before the Redis stopped: its AOF has it completed. Read it back from a fresh server.
      const again = await startRedis({ dir: join(dir, '.trireme/redis') });
      try {
        const c2 = new TriremeClient(p, again.url);
        assert.equal((await c2.getJob(job.id))?.state, 'completed');
        await c2.close();
      } finally { await again.stop(); }
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  test('the private Redis killed with -9 under serve: serve starts it again on the same port, jobs before and after complete, no second server', async () => {
    const { dir, config, child, out, exited, url, p } = await privateServe('redis9');
    try {
      const c = new TriremeClient(p, url);
      const before = await c.submit('fx.echo', { value: 'before' });
      await c.waitFor(before.id, 60_000);
      const pid = Number(/process_id:(\d+)/.exec(await c.redis.info('server'))![1]);
      process.kill(pid, 'SIGKILL');
      // Meanwhile a one-off command in the same folder must not start a second private Redis beside serve's.
      const submit = await run(['-c', config, 'submit', 'fx.echo', '--data', '{"value":"during"}', '--json'], { TRIREME_REDIS_URL: '' });
      assert.ok(submit.code === 0 || /is not answering right now/.test(submit.out), submit.out);
      await waitFor(() => /"msg":"the private redis-server is back"/.test(out()), 60_000, `the restart: ${out().slice(-1500)}`);
      assert.equal(readFileSync(join(dir, '.trireme/redis/port'), 'utf8'), new URL(url).port, 'the same port');
      const after = await c.submit('fx.echo', { value: 'after' });
      assert.deepEqual(((await c.waitFor(after.id, 60_000)) as { echoed: string }).echoed, 'after');
      assert.equal((await c.getJob(before.id))?.state, 'completed', 'the AOF brought the finished job back');
      if (submit.code === 0) assert.equal((await c.getJob(JSON.parse(submit.out).id))?.state !== undefined, true, 'the submit during the outage went to this Redis');
      await c.close();
      process.kill(-child.pid!, 'SIGTERM');
      assert.equal(await exited, 0, out().slice(-2000));
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  test('the private Redis has a password, kept in a file only its owner reads, and private files: a client without it gets NOAUTH; submit and status find it', async () => {
    const { dir, config, child, exited, url, out } = await privateServe('password');
    try {
      const rdir = join(dir, '.trireme/redis');
      const port = Number(readFileSync(join(rdir, 'port'), 'utf8'));
      const stranger = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
      stranger.on('error', () => {});
      try {
        await stranger.connect();
        await assert.rejects(stranger.ping(), /NOAUTH/, 'another local account, without the password');
        await assert.rejects(stranger.get(`${project.config.prefix}:~tasks`), /NOAUTH/);
      } finally { stranger.disconnect(); }
      const password = readFileSync(join(rdir, 'password'), 'utf8').trim();
      assert.match(password, /^[0-9a-f]{64}$/);
      assert.equal(new URL(url).password, password, 'commands find the URL with its password');
      assert.doesNotMatch(out(), new RegExp(password), 'the password is not printed');
      const admin = new Redis(url);
      const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))![1]);
      admin.disconnect();
      assert.doesNotMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(password), 'nor on redis-server\'s command line, which every account can read');
      const mode = (p: string) => statSync(p).mode & 0o777;
      assert.equal(mode(rdir), 0o700);
      const files = walk(rdir);
      assert.ok(files.some((f) => f.endsWith('.aof')), files.join(' '));
      for (const f of files) assert.equal(mode(f) & 0o077, 0, `${f} is ${mode(f).toString(8)}`);
      const sub = await run(['-c', config, 'submit', 'fx.echo', '--data', '{"value":"pw"}', '--wait', '--json'], { TRIREME_REDIS_URL: '' });
      assert.equal(sub.code, 0, sub.out);
      assert.match(sub.out, /"echoed":\s?"pw"/);
      const st = await run(['-c', config, 'status'], { TRIREME_REDIS_URL: '' });
      assert.equal(st.code, 0, st.out);
      assert.match(st.out, /light/);
      process.kill(-child.pid!, 'SIGTERM');
      assert.equal(await exited, 0, out().slice(-2000));
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      await stopPrivateRedis(config);
    }
  });

  test('a data folder from before passwords keeps its jobs: the next start gives it a password and private modes', async () => {
    const { dir, config } = privateConfig('upgrade');
    const rdir = join(dir, '.trireme/redis');
    mkdirSync(rdir, { recursive: true });
    chmodSync(rdir, 0o755);
    // As older versions left it: a Redis with no password and its files as the umask made them, and the port file.
    const old = await startRedis({ dir: rdir });
    writeFileSync(join(rdir, 'port'), String(old.port));
    const oldProject = await loadProject(config, { TRIREME_REDIS_URL: old.url });
    const c = new TriremeClient(oldProject, old.url);
    const kept = await c.submit('fx.echo', { value: 'from before' }, { queue: 'heavy' });
    await c.close();
    await old.stop();
    const { child, exited, url, p, out } = await privateServe('upgrade', dir);
    try {
      assert.ok(new URL(url).password, 'a password now');
      assert.equal(statSync(rdir).mode & 0o777, 0o700);
      for (const f of walk(rdir)) assert.equal(statSync(f).mode & 0o077, 0, f);
      const c2 = new TriremeClient(p, url);
      assert.deepEqual(((await c2.waitFor(kept.id, 60_000)) as { echoed: string }).echoed, 'from before', 'the job queued before ran');
      await c2.close();
      process.kill(-child.pid!, 'SIGTERM');
      assert.equal(await exited, 0, out().slice(-2000));
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      await stopPrivateRedis(config);
    }
  });

  test('serve --host 0.0.0.0 refused for want of a token starts no private Redis', async () => {
    const { dir, config } = privateConfig('bind');
    const r = await run(['-c', config, 'serve', '--host', '0.0.0.0'], { TRIREME_REDIS_URL: '' });
    const left = await findLocalRedis(config);
    await stopPrivateRedis(config);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /auth\.tokens: the API would listen on 0\.0\.0\.0/);
    assert.doesNotMatch(r.out, /started a private redis-server/);
    assert.equal(left, undefined, 'no private Redis left running');
    assert.ok(!existsSync(join(dir, '.trireme/redis/port')));
  });

  test('a forced scale-down drains: running jobs finish, none is killed', async () => {
    const s = serve();
    const dir = mkdtempSync(join(tmpdir(), 'trireme-forced-'));
    const jobs = await Promise.all([0, 1].map((i) => client.submit('fx.sleep', { ms: 4000, pidFile: join(dir, `${i}.pid`) })));
    // Both begun (their pid files written), not just fetched: a job fetched but not begun goes back when a drain starts.
    await waitFor(() => existsSync(join(dir, '0.pid')) && existsSync(join(dir, '1.pid')), 30_000, 'both jobs running');
    const pin = await run(['-c', CONFIG, 'scale', 'heavy', '0'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(pin.code, 0, pin.out);
    await waitFor(async () => (await replicas('heavy')).some((r) => r.state === 'draining'), 5_000, 'replicas draining');
    for (const j of jobs) assert.deepEqual(((await client.waitFor(j.id, 30_000)) as { slept: number }).slept, 4000);
    for (const j of jobs) assert.equal((await client.getJob(j.id))?.attempts, 1, 'finished on the first attempt');
    await waitFor(async () => (await replicas('heavy')).length === 0, 15_000, 'drained replicas gone');
    assert.equal((await run(['-c', CONFIG, 'resume', 'heavy'], { TRIREME_REDIS_URL: redis.url })).code, 0);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });

  test('two serve processes on one Redis: only one acts; kill it and the other takes over', async () => {
    const a = serve();
    const lease = new Lease(client.redis, project.config.prefix, 'test', 1);
    const first = await waitFor(() => lease.currentHolder(), 10_000, 'a lease holder');
    const b = serve();
    await waitFor(async () => (await replicas('light')).length === 1, 20_000, 'light at min');
    await new Promise((r) => setTimeout(r, 1_500)); // several loop intervals with both running
    assert.equal((await replicas('light')).length, 1, 'the standby did not start replicas of its own');
    const [leader, standby] = first.includes(`-${a.child.pid}-`) ? [a, b] : [b, a];
    const orphan = (await replicas('light'))[0];
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    const second = await waitFor(async () => { const h = await lease.currentHolder(); return h && h !== first ? h : null; }, 60_000, 'a new lease holder');
    assert.ok(second.includes(`-${standby.child.pid}-`));
    console.log(`# the standby took over ${Date.now() - killedAt} ms after the leader was killed (lease ttl 2 s)`);
    // The dead serve's worker notices its parent is gone and drains; the new leader starts its own.
    await waitFor(() => !alive(orphan.pid), 10_000, 'the orphaned worker to exit');
    await waitFor(async () => (await replicas('light')).some((r) => r.id !== orphan.id), 20_000, 'a replica of the new leader');
    standby.child.kill('SIGTERM');
    assert.equal((await standby.exited).code, 0);
  });

  test('a crash-looping pool is reported in status and does not spin', async () => {
    const cfg = join(ROOT, 'test/fixtures/crashloop.yml');
    const s = serve(cfg);
    const crashProject = await loadProject(cfg);
    const crashStore = new ControlStore(client.redis, crashProject.config.prefix);
    const d = await waitFor(async () => { const x = (await crashStore.decisions()).broken; return x?.health?.startsWith('crash-loop') ? x : null; }, 20_000, 'crash-loop reported');
    assert.match(d.health!, /crash-loop: \d+ replica\(s\) exited at start/);
    const status = await run(['-c', cfg, 'status'], { TRIREME_REDIS_URL: redis.url });
    assert.match(status.out, /\[crash-loop: /);
    const startsSoFar = (s.output().match(/"msg":"starting a replica"/g) ?? []).length;
    await new Promise((r) => setTimeout(r, 3_000));
    const startsLater = (s.output().match(/"msg":"starting a replica"/g) ?? []).length;
    assert.ok(startsLater - startsSoFar <= 2, `backoff holds starts back (${startsLater - startsSoFar} in 3 s)`);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  });
});
