/**
 * Redis and the lifecycle of `serve`, as a new user meets them: a Redis URL that is wrong or does not answer, Redis
 * going away under serve, Ctrl-C with jobs running (once, and twice), a port already taken, and the private
 * redis-server that one-off commands start. Real processes, a real redis-server per test, signals as a terminal sends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { ROOT, startRedis, waitFor } from '../helpers.js';
import { findLocalRedis, freePort, startEmbeddedRedis } from '../../src/redis/embedded.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { reapAll, run, trireme } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/autoscale.yml');

/** A copy of the fixture config in a folder of its own, with `edit` applied to its text. */
function configCopy(name: string, edit: (text: string) => string = (t) => t): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), `trireme-${name}-`));
  const config = join(dir, 'trireme.yml');
  writeFileSync(config, edit(readFileSync(CONFIG, 'utf8').replace('tasks: [./tasks.ts]', `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/tasks.ts'))}]`)));
  return { dir, config };
}

describe('a Redis URL that is wrong or does not answer', () => {
  after(reapAll);

  test('every verb says within seconds that Redis does not answer at the URL and what to check (exit 1)', { timeout: 120_000 }, async () => {
    const port = await freePort(); // nothing listens there
    const url = `redis://127.0.0.1:${port}`;
    const verbs = [['status'], ['jobs'], ['submit', 'fx.echo'], ['workers'], ['job', 'heavy~x'], ['scale', 'heavy', '1'], ['serve', '--no-api']];
    // A replica waits for Redis instead (an engine would only restart it through an outage), and says so.
    const worker = trireme(['-c', CONFIG, 'worker', '--pool', 'light'], { TRIREME_REDIS_URL: url, TRIREME_LOG_FORMAT: 'json' });
    const results = await Promise.all(verbs.map((v) => run(['-c', CONFIG, ...v], { TRIREME_REDIS_URL: url })));
    for (const [i, r] of results.entries()) {
      const what = `trireme ${verbs[i].join(' ')}: ${r.out}`;
      assert.equal(r.code, 1, what);
      assert.match(r.out, new RegExp(`Redis does not answer at redis://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED [^)]*; waited 5 s\\)`), what);
      assert.match(r.out, /check that redis-server runs there .*and that TRIREME_REDIS_URL is right/i, what);
    }
    const warned = await waitFor(() => logLines(worker.output()).find((l) => l.msg.startsWith('Redis does not answer')), 60_000, `the worker's warning: ${worker.output()}`);
    assert.equal(warned.level, 40);
    assert.equal(warned.redis, url);
    assert.match(String(warned.err), /ECONNREFUSED/);
    assert.match(warned.msg, /waiting for it; check that redis-server runs there and that TRIREME_REDIS_URL is right/);
    worker.child.kill('SIGTERM');
    assert.equal((await worker.exited).code, 0, worker.output());
  });

  test('a malformed URL is refused naming the problem (exit 2), from the environment or the config', async () => {
    for (const [bad, problem] of [['localhost:6379x', /"localhost:6379x" has no scheme: write redis:\/\/HOST:PORT/], ['redis://localhost:6379x', /port "6379x" is not a port number/], ['http://localhost:6379', /"http:\/\/" is not a Redis scheme/]] as const) {
      const r = await run(['-c', CONFIG, 'status'], { TRIREME_REDIS_URL: bad });
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /TRIREME_REDIS_URL is invalid/, r.out);
      assert.match(r.out, problem, r.out);
    }
    const { config } = configCopy('badurl', (t) => `redis: { url: "localhost:6379x" }\n${t}`);
    const r = await run(['-c', config, 'status'], { TRIREME_REDIS_URL: '' });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /redis\.url: "localhost:6379x" has no scheme/, r.out);
  });
});

describe('the port and the private redis-server', () => {
  after(reapAll);

  test('serve on a taken port, or a refused bind, says what and how to fix it (exit 2) and leaves no private Redis running', async () => {
    const { dir, config } = configCopy('port');
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await run(['-c', config, 'serve', '--port', String(port)], { TRIREME_REDIS_URL: '' });
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, new RegExp(`trireme: port ${port} on 127\\.0\\.0\\.1 is taken \\(another trireme serve, or another program\\): pick another with trireme serve --port N \\(0 picks a free one\\), or set api\\.port in ${config.replace(/[.\\/]/g, '\\$&')}`), r.out);
      assert.doesNotMatch(r.out, /EADDRINUSE|started a private redis-server/, r.out);
      assert.equal(await findLocalRedis(join(dir, '.trireme/redis')), undefined, 'no private Redis left running');
    } finally {
      blocker.close();
    }
    const open = await run(['-c', config, 'serve', '--host', '0.0.0.0', '--port', '0'], { TRIREME_REDIS_URL: '', TRIREME_API_TOKEN: '' });
    assert.equal(open.code, 2, open.out);
    assert.match(open.out, /beyond loopback, with no token/);
    assert.equal(await findLocalRedis(join(dir, '.trireme/redis')), undefined, 'no private Redis left running');
  });

  test('submit with no serve warns that nothing runs the job and stops the private Redis it started; the next serve runs the job', async () => {
    const { dir, config } = configCopy('submit');
    const r = await run(['-c', config, 'submit', 'fx.echo', '--data', '{"value":"queued"}', '--json'], { TRIREME_REDIS_URL: '' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /started a private redis-server/);
    assert.match(r.out, /warning: no trireme serve is running for \S+trireme\.yml: nothing runs the job until one starts \(trireme serve\)/);
    assert.match(r.out, /stopped the private redis-server this command started \(its data stays in \S+ for the next trireme serve\)/);
    assert.equal(await findLocalRedis(join(dir, '.trireme/redis')), undefined, 'the private Redis is not left running');
    const { id } = JSON.parse(/^\{.*\}$/m.exec(r.out)![0]) as { id: string };

    const s = trireme(['-c', config, 'serve', '--port', '0'], { TRIREME_REDIS_URL: '', TRIREME_LOG_FORMAT: 'json' });
    await waitFor(() => /started a private redis-server at redis:\/\//.test(s.output()), 60_000, `serve's Redis: ${s.output()}`);
    // The notice hides the password; the URL with it is found beside the config, as every command finds it.
    const url = (await findLocalRedis(join(dir, '.trireme/redis')))!;
    const client = new TriremeClient(await loadProject(config, { TRIREME_REDIS_URL: url }), url);
    try {
      assert.equal(((await client.waitFor(id, 60_000)) as { echoed: string }).echoed, 'queued');
    } finally {
      await client.close();
    }
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0, s.output().slice(-2000));
    assert.equal(await findLocalRedis(join(dir, '.trireme/redis')), undefined, 'serve stopped its Redis');
  });

  test('serve that finds a private Redis already running says so, owns it, and stops it when it exits', async () => {
    const { dir, config } = configCopy('reuse');
    const left = await startEmbeddedRedis(join(dir, '.trireme/redis'), { detached: true });
    const s = trireme(['-c', config, 'serve', '--port', '0'], { TRIREME_REDIS_URL: '', TRIREME_LOG_FORMAT: 'json' });
    await waitFor(() => /dashboard and API at/.test(s.output()), 60_000, `serve to listen: ${s.output()}`);
    const shown = left.url.replace(/:[^:@/]+@/, ':***@');
    assert.match(s.output(), new RegExp(`using the private redis-server already running at ${shown.replace(/[.\\/*]/g, '\\$&')} \\(data in \\S+\\); this serve now owns it and stops it when it exits`));
    assert.doesNotMatch(s.output(), new RegExp(left.url.replace(/^redis:\/\/:([^@]+)@.*/, '$1')), 'the password is not printed');
    assert.doesNotMatch(s.output(), /started a private redis-server/);
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0, s.output().slice(-2000));
    assert.equal(await findLocalRedis(join(dir, '.trireme/redis')), undefined, 'serve stopped the Redis it found');
  });
});

/** serve's JSON log lines so far (stderr and stdout mixed: lines that are not JSON are skipped). */
function logLines(out: string): { level: number; msg: string; [k: string]: unknown }[] {
  return out.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).filter((x) => x);
}

describe('Redis going away under serve', () => {
  after(reapAll);

  test('the outage is logged once when it starts and once when it ends, /readyz says why, and Ctrl-C stops promptly while Redis is away', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    try {
      const s = trireme(['-c', CONFIG, 'serve', '--port', '0'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
      const base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(s.output())?.[1], 60_000, `serve to listen: ${s.output()}`);
      await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 'ready');
      // serve's own lines (its watcher names the Redis); a replica of serve's says the outage in its own words, into
      // the same output, and is not what this test counts.
      const downs = () => logLines(s.output()).filter((l) => l.msg.startsWith('Redis does not answer') && typeof l.redis === 'string');
      const ups = () => logLines(s.output()).filter((l) => l.msg === 'Redis answers again' && typeof l.redis === 'string');

      await redis.kill();
      const [down] = await waitFor(() => downs().length ? downs() : undefined, 30_000, `the outage logged: ${s.output().slice(-1500)}`);
      assert.equal(down.level, 40, 'a warning');
      assert.match(String(down.err), /ECONNREFUSED|ECONNRESET|Connection is closed/);
      assert.match(down.msg, /scaling is on hold and submits are refused until it is back/);
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      const body = await ready.json() as { checks: { redis: { ok: boolean; detail: string } } };
      assert.equal(body.checks.redis.ok, false);
      assert.match(body.checks.redis.detail, /^no answer since \d{4}-\d\d-\d\dT\S+ \(\d+ s\): .*(ECONNREFUSED|ECONNRESET|Connection is closed).*; scaling is on hold/);

      await redis.start();
      const [up] = await waitFor(() => ups().length ? ups() : undefined, 30_000, 'the end of the outage logged');
      assert.equal(up.level, 30, 'info');
      assert.ok(typeof up.downMs === 'number' && up.downMs > 0 && typeof up.lasted === 'string', JSON.stringify(up));
      await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 'ready again');
      assert.equal(downs().length, 1, 'the outage was logged once, not on every check');
      assert.equal(ups().length, 1);

      // Away again, and Ctrl-C: serve stops without waiting for Redis.
      await redis.kill();
      await waitFor(() => downs().length === 2, 30_000, 'the second outage logged');
      s.child.kill('SIGINT');
      const { code } = await s.exited;
      assert.equal(code, 0, s.output().slice(-3000));
      assert.doesNotMatch(s.output(), /shutdown took too long/);
    } finally {
      await redis.stop();
    }
  });
});

describe('Ctrl-C on serve with a job running', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  before(async () => { redis = await startRedis(); });
  after(async () => { await reapAll(); await redis.stop(); });

  /**
   * serve (its own prefix, so no test sees another's jobs) with one fx.sleep job of `ms` running on the heavy pool
   * (drainGrace 15 s; light keeps the default 30 s), as a terminal runs it.
   */
  async function serveWithJob(name: string, ms: number, serveArgs: string[] = []) {
    const { dir, config } = configCopy(name, (t) => `prefix: ${name}\n${t}`);
    const s = trireme(['-c', config, 'serve', '--port', '0', ...serveArgs], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
    await waitFor(() => /dashboard and API at/.test(s.output()), 60_000, `serve to listen: ${s.output()}`);
    const client = new TriremeClient(await loadProject(config, { TRIREME_REDIS_URL: redis.url }), redis.url);
    const pidFile = join(dir, 'job.pid');
    const job = await client.submit('fx.sleep', { ms, pidFile });
    // Begun (its pid file written), not only fetched.
    await waitFor(() => existsSync(pidFile), 60_000, 'the job running');
    return { s, client, job };
  }

  test('with a short serve --grace, the cut-off job is handed back: waiting, not active, and no replica is killed', { timeout: 120_000 }, async () => {
    const { s, client, job } = await serveWithJob('ctrlc-short', 120_000, ['--grace', '2s']);
    try {
      s.child.kill('SIGINT');
      assert.equal((await s.exited).code, 0, s.output().slice(-3000));
      assert.match(s.output(), /trireme: stopping: waiting up to 2s for running jobs \(serve --grace\); Ctrl-C again to stop now/);
      assert.match(s.output(), /"msg":"shutdown grace over: the replica hands its running jobs back"/);
      assert.match(s.output(), /"msg":"stopping now: handing the job back to its queue"/);
      assert.doesNotMatch(s.output(), /"msg":"replica killed/);
      const view = await client.getJob(job.id);
      assert.equal(view?.state, 'waiting', JSON.stringify(view));
      assert.equal(view?.attempts, 0, 'a job handed back keeps its attempt count');
    } finally {
      await client.close();
    }
  });

  test('with no --grace the pools\' drainGrace rules, said at the first Ctrl-C, and a job within it completes', { timeout: 120_000 }, async () => {
    const { s, client, job } = await serveWithJob('ctrlc-long', 4_000);
    try {
      s.child.kill('SIGINT');
      assert.equal((await s.exited).code, 0, s.output().slice(-3000));
      assert.match(s.output(), /trireme: stopping: waiting up to 30s for running jobs \(each pool's drainGrace; serve --grace sets a shorter bound\); Ctrl-C again to stop now/);
      const view = await client.getJob(job.id);
      assert.equal(view?.state, 'completed', JSON.stringify(view));
      assert.equal(view?.attempts, 1);
    } finally {
      await client.close();
    }
  });

  test('a replica that cannot hand back (its event loop blocked) is killed past its grace, and the kill is a warning', { timeout: 120_000 }, async () => {
    const { config } = configCopy('ctrlc-hang', (t) => 'prefix: ctrlc-hang\n' + t);
    const s = trireme(['-c', config, 'serve', '--port', '0', '--grace', '1s'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
    await waitFor(() => /dashboard and API at/.test(s.output()), 60_000, `serve to listen: ${s.output()}`);
    const client = new TriremeClient(await loadProject(config, { TRIREME_REDIS_URL: redis.url }), redis.url);
    try {
      const pidFile = join(mkdtempSync(join(tmpdir(), 'trireme-hang-')), 'job.pid');
      await client.submit('fx.hang', { pidFile });
      await waitFor(() => existsSync(pidFile), 60_000, 'the job running');
      s.child.kill('SIGINT');
      assert.equal((await s.exited).code, 0, s.output().slice(-3000));
      const killed = logLines(s.output()).find((l) => l.msg.startsWith('replica killed'));
      assert.ok(killed, s.output().slice(-3000));
      assert.equal(killed.level, 40, 'a warning');
      assert.equal(killed.pool, 'heavy');
      assert.match(killed.msg, /had not stopped within its grace .*stays active until its lock expires/);
    } finally {
      await client.close();
    }
  });

  test('a second Ctrl-C stops now: says so, hands the running job back at once, and serve exits', { timeout: 120_000 }, async () => {
    const { s, client, job } = await serveWithJob('ctrlc-twice', 120_000);
    try {
      s.child.kill('SIGINT');
      await waitFor(() => /Ctrl-C again to stop now/.test(s.output()), 30_000, 'the first Ctrl-C said');
      await waitFor(() => /"msg":"draining"/.test(s.output()), 30_000, 'the replicas draining');
      s.child.kill('SIGINT');
      assert.equal((await s.exited).code, 0, s.output().slice(-3000));
      assert.match(s.output(), /trireme: stopping now: running jobs go back to their queues/);
      assert.match(s.output(), /"msg":"stopping now: handing running jobs back"/);
      assert.doesNotMatch(s.output(), /"msg":"replica killed/);
      const view = await client.getJob(job.id);
      assert.equal(view?.state, 'waiting', JSON.stringify(view));
    } finally {
      await client.close();
    }
  });
});
