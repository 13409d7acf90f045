/**
 * The HTTP API over real HTTP: a real `trireme serve` (controller, local driver, worker processes) on a private
 * redis-server, with a full token and a read-only token from the environment.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { openSse } from '../sse.js';
import { trireme, reapAll, run, type Proc } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/api.yml');
const TOKEN = 'full-token-0123456789abcdef';
const READ_TOKEN = 'read-token-0123456789abcdef';
let redis: TestRedis;
let serve: Proc;
let base: string;

interface Res { status: number; body: any; headers: Headers }

async function call(method: string, path: string, opts: { body?: unknown; raw?: string; token?: string | null; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) { body = JSON.stringify(opts.body); headers['content-type'] = 'application/json'; }
  else if (opts.raw !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* text */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

const submit = async (task: string, payload: unknown = {}, options?: unknown) => {
  const r = await call('POST', '/jobs', { body: { task, payload, options } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { id: string; queue: string; pool: string };
};
const job = async (id: string) => (await call('GET', `/jobs/${encodeURIComponent(id)}`)).body;
const finished = (id: string, timeout = 20_000) => waitFor(async () => {
  const j = await job(id);
  return j.state === 'completed' || j.state === 'failed' ? j : undefined;
}, timeout, `job ${id} to finish`);
const replicas = async (pool: string) => ((await call('GET', `/workers?pool=${pool}`)).body.replicas as { id: string; state: string }[]);
const pool = async (name: string) => (await call('GET', `/pools/${name}`)).body;

describe('HTTP API', () => {
  before(async () => {
    redis = await startRedis();
    serve = trireme(['-c', CONFIG, 'serve', '--port', '0', '--grace', '10s'], { TRIREME_REDIS_URL: redis.url, TRIREME_API_TOKEN: TOKEN, TRIREME_API_READ_TOKEN: READ_TOKEN });
    base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 30_000, 'serve to print its address');
    await waitFor(async () => (await replicas('light')).some((r) => r.state === 'idle'), 20_000, 'the light pool up');
  });
  after(async () => {
    await reapAll();
    await redis.stop();
  });

  test('health, readiness and the OpenAPI document need no token; the document lists every route', async () => {
    assert.equal((await call('GET', '/healthz', { token: null })).body.status, 'ok');
    const ready = await call('GET', '/readyz', { token: null });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.checks.redis.ok, true);
    assert.match(ready.body.checks.controller.detail, /^leader; last pass/);
    const doc = (await call('GET', '/openapi.json', { token: null })).body;
    assert.equal(doc.openapi, '3.1.0');
    for (const [path, method] of [['/jobs', 'post'], ['/jobs', 'get'], ['/jobs/{id}', 'delete'], ['/jobs/{id}/retry', 'post'], ['/jobs/{id}/events', 'get'],
      ['/workers', 'get'], ['/workers/status', 'get'], ['/workers/start/{pool}', 'post'], ['/workers/stop/{id}', 'post'], ['/workers/ensure/{pool}', 'post'],
      ['/pools', 'get'], ['/pools/{name}/replicas', 'put'], ['/pools/{name}/pause', 'post'], ['/pools/{name}/resume', 'post'],
      ['/autoscaling', 'get'], ['/events/scaling', 'get'], ['/events', 'get'], ['/metrics', 'get'], ['/healthz', 'get'], ['/readyz', 'get']]) {
      assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} in the document`);
    }
    // Generated from the same schema that validates: the body of PUT replicas requires an integer >= 0.
    const put = doc.paths['/pools/{name}/replicas'].put.requestBody.content['application/json'].schema;
    assert.deepEqual(put.required, ['replicas']);
    assert.equal(put.properties.replicas.type, 'integer');
    assert.equal(put.properties.replicas.minimum, 0);
  });

  test('auth: writes need a full token; read-only tokens and bad tokens are refused, naming the header', async () => {
    const none = await call('POST', '/jobs', { body: { task: 'fx.echo' }, token: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    assert.equal(none.body.error.field, 'headers.authorization');
    const bad = await call('POST', '/jobs', { body: { task: 'fx.echo' }, token: 'not-a-token-at-all-0000' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'invalid_token');
    const ro = await call('POST', '/jobs', { body: { task: 'fx.echo' }, token: READ_TOKEN });
    assert.equal(ro.status, 403);
    assert.equal(ro.body.error.code, 'read_only_token');
    assert.equal((await call('PUT', '/pools/heavy/replicas', { body: { replicas: 1 }, token: READ_TOKEN })).status, 403);
    assert.equal((await call('POST', '/pools/heavy/pause', { token: null })).status, 401);
    // Reads are open unless auth.protectReads is set.
    assert.equal((await call('GET', '/pools', { token: null })).status, 200);
    assert.equal((await call('GET', '/pools', { token: READ_TOKEN })).status, 200);
    const ok = await call('POST', '/jobs', { body: { task: 'fx.echo', payload: { value: 1 } } });
    assert.equal(ok.status, 201);
  });

  test('bad requests get a 4xx that names the field and the fix', async () => {
    const cases: [string, string, Parameters<typeof call>[2], number, string, string][] = [
      ['POST', '/jobs', { body: { task: 'fx.echo', bogus: 1 } }, 400, 'invalid_body', 'body.bogus'],
      ['POST', '/jobs', { body: { payload: {} } }, 400, 'invalid_body', 'body.task'],
      ['POST', '/jobs', { body: { task: 'no.such' } }, 400, 'unknown_task', 'body.task'],
      ['POST', '/jobs', { body: { task: 'fx.square', payload: { n: 'x' } } }, 400, 'invalid_payload', 'body.payload'],
      ['POST', '/jobs', { body: { task: 'fx.echo', options: { queue: 'nowhere' } } }, 400, 'unknown_queue', 'body.options.queue'],
      ['POST', '/jobs', { body: { task: 'fx.echo', options: { delay: 'soon' } } }, 400, 'invalid_option', 'body.options.delay'],
      ['POST', '/jobs', { raw: '{"task": ' }, 400, 'invalid_json', 'body'],
      ['POST', '/jobs', { raw: JSON.stringify({ task: 'fx.echo', payload: { pad: 'x'.repeat(70_000) } }) }, 413, 'body_too_large', 'body'],
      ['PUT', '/pools/heavy/replicas', { body: { replicas: 'two' } }, 400, 'invalid_body', 'body.replicas'],
      ['PUT', '/pools/heavy/replicas', { body: { replicas: 9 } }, 400, 'above_max', 'body.replicas'],
      ['PUT', '/pools/nope/replicas', { body: { replicas: 1 } }, 404, 'unknown_pool', 'params.name'],
      ['POST', '/workers/start/nope', {}, 404, 'unknown_pool', 'params.pool'],
      ['GET', '/events/scaling?pool=nope', {}, 404, 'unknown_pool', 'query.pool'],
      ['GET', '/jobs?pool=nope', {}, 400, 'unknown_pool', 'query.pool'],
      ['GET', '/jobs?queue=nowhere', {}, 400, 'unknown_queue', 'query.queue'],
      ['GET', '/jobs?state=sleeping', {}, 400, 'invalid_query', 'query.state.0'],
      ['GET', '/jobs?limit=0', {}, 400, 'invalid_query', 'query.limit'],
      ['GET', '/jobs?cursor=garbage', {}, 400, 'invalid_cursor', 'query.cursor'],
      ['GET', '/jobs/heavy~nope', {}, 404, 'not_found', 'params.id'],
      ['POST', '/workers/stop/nobody', {}, 404, 'unknown_worker', 'params.id'],
    ];
    for (const [method, path, opts, status, code, field] of cases) {
      const r = await call(method, path, opts);
      assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.field, field, `${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.ok(r.body.error.message.length > 20, r.body.error.message);
    }
    assert.equal((await call('GET', '/no/such/route')).body.error.code, 'no_route');
  });

  test('jobs: submit, look up with timings, a group, and list across pages without repeats', async () => {
    const one = await submit('fx.echo', { value: 'hi' });
    const done = await finished(one.id);
    assert.equal(done.state, 'completed');
    assert.equal(done.result.echoed, 'hi');
    assert.ok(done.submittedAt <= done.startedAt && done.startedAt <= done.finishedAt, JSON.stringify(done));
    assert.equal(done.pool, 'heavy');

    const group = await call('POST', '/jobs', { body: { task: 'fx.square', payloads: [{ n: 2 }, { n: 3 }, { n: 4 }] } });
    assert.equal(group.status, 201);
    assert.equal(group.body.children.length, 3);
    assert.deepEqual((await finished(group.body.id, 30_000)).result, [4, 9, 16]);
    const runs = await call('POST', '/jobs', { body: { task: 'fx.square', payload: { n: 5 }, runs: 2 } });
    assert.deepEqual((await finished(runs.body.id, 30_000)).result, [25, 25]);

    const ids = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/jobs?state=completed&pool=heavy&task=fx.square&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await call('GET', q)).body;
      for (const j of page.jobs) {
        assert.equal(j.state, 'completed');
        assert.equal(j.task, 'fx.square');
        assert.ok(!ids.has(j.id), `job ${j.id} listed twice`);
        ids.add(j.id);
      }
      cursor = page.cursor;
      pages++;
    } while (cursor && pages < 10);
    assert.equal(ids.size, 5, 'the five fx.square runs');
    assert.ok(pages >= 3);
  });

  test('job events: log lines arrive in order over SSE and the stream ends when the job does', async () => {
    const j = await submit('fx.logs', { lines: 6, gapMs: 150 });
    const s = await openSse(`${base}/jobs/${encodeURIComponent(j.id)}/events`);
    const end = await s.next((f) => f.event === 'end', 30_000);
    assert.equal(end.data.state, 'completed');
    assert.deepEqual(end.data.result, { lines: 6 });
    const lines = s.seen.filter((f) => f.event === 'log');
    assert.deepEqual(lines.map((f) => f.data.line), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
    assert.deepEqual(lines.map((f) => f.data.index), [0, 1, 2, 3, 4, 5]);
    const states = s.seen.filter((f) => f.event === 'state').map((f) => f.data.state);
    assert.equal(states.at(-1), 'completed');
    assert.ok(s.seen.findIndex((f) => f.event === 'log') < s.seen.findIndex((f) => f.event === 'end'));
    await s.ended; // the server closed the stream
  });

  test('cancel: a running job is aborted on its replica and fails as cancelled, with no retry; a waiting one is removed', async () => {
    const j = await submit('fx.sleep', { ms: 60_000 }, { retries: 3 });
    await waitFor(async () => (await job(j.id)).state === 'active', 20_000, 'the job running');
    const r = await call('DELETE', `/jobs/${encodeURIComponent(j.id)}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.was, 'active');
    assert.equal(r.body.state, 'failed');
    const after = await job(j.id);
    assert.equal(after.error, 'cancelled');
    assert.equal(after.attempts, 1, 'not retried');
    assert.equal((await call('DELETE', `/jobs/${encodeURIComponent(j.id)}`)).status, 409, 'a finished job cannot be cancelled');

    // A task that listens to ctx.signal is told: its signal aborts with the cancel.
    const file = join(mkdtempSync(join(tmpdir(), 'trireme-cancel-')), 'reason');
    const listening = await submit('fx.until-aborted', { file });
    await waitFor(async () => (await job(listening.id)).state === 'active', 20_000, 'the listening job running');
    assert.equal((await call('DELETE', `/jobs/${encodeURIComponent(listening.id)}`)).body.state, 'failed');
    assert.equal(readFileSync(file, 'utf8'), 'cancelled');

    const w = await submit('fx.echo', {}, { delay: '1h' });
    const rw = await call('DELETE', `/jobs/${encodeURIComponent(w.id)}`);
    assert.deepEqual([rw.status, rw.body.was, rw.body.state], [200, 'delayed', 'removed']);
    assert.equal((await call('GET', `/jobs/${encodeURIComponent(w.id)}`)).status, 404);
  });

  test('retry: a failed job runs again', async () => {
    const j = await submit('fx.fail', {}, { retries: 0 });
    const failed = await finished(j.id);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error, 'failed on attempt 1');
    const r = await call('POST', `/jobs/${encodeURIComponent(j.id)}/retry`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // Its state just after the retry is a race (a replica may already have run it again and failed); what it came from is not.
    assert.equal(r.body.was, 'failed');
    const again = await waitFor(async () => { const v = await job(j.id); return v.state === 'failed' && v.finishedAt > failed.finishedAt ? v : undefined; }, 20_000, 'the retried run to fail');
    assert.equal(again.error, 'failed on attempt 1', 'from its first attempt again');
    assert.equal(again.attempts, 1, 'the attempt count was reset, not carried on');
    assert.equal((await call('POST', `/jobs/${encodeURIComponent((await submit('fx.sleep', { ms: 3000 })).id)}/retry`)).status, 409);
  });

  test('workers: status fields, start, ensure and stop (drain) a replica', async () => {
    await call('POST', '/pools/heavy/resume');
    await waitFor(async () => (await replicas('heavy')).length === 0, 30_000, 'heavy back at zero');
    // The original worker manager's shape at its own path, field by field.
    const st = (await call('GET', '/workers/status')).body;
    assert.deepEqual(Object.keys(st), ['total_workers', 'active_workers', 'workers_by_type', 'worker_details']);
    assert.deepEqual([st.total_workers, st.active_workers, st.workers_by_type], [1, 0, { light: 1, heavy: 0 }]);
    const [lightId] = Object.keys(st.worker_details);
    const light = st.worker_details[lightId];
    assert.deepEqual(Object.keys(light), ['worker_id', 'worker_type', 'container_name', 'status', 'created_at', 'last_activity', 'job_count', 'max_jobs']);
    assert.equal(light.worker_id, lightId);
    assert.equal(light.worker_type, 'light');
    assert.match(light.container_name, /^[^:]+:\d+$/, 'no container: host:pid');
    assert.equal(light.status, 'idle');
    assert.ok(!Number.isNaN(Date.parse(light.created_at)) && !Number.isNaN(Date.parse(light.last_activity)));
    assert.equal(typeof light.job_count, 'number');
    assert.equal(light.max_jobs, 500, 'the jobs after which it recycles (maxTasksPerChild)');
    assert.deepEqual(Object.keys((await call('GET', '/workers/status?pool=heavy')).body.worker_details), []);
    // Trireme's own view: the same replicas, and the standby kept for the heavy pool (at zero) with its memory.
    const own = await waitFor(async () => { const b = (await call('GET', '/workers')).body; return b.standbys.length ? b : undefined; }, 20_000, 'a standby in GET /workers');
    assert.equal(own.replicas.find((r: { pool: string }) => r.pool === 'light').concurrency, 4);
    assert.ok(own.standbys[0].rss > 10 * 1024 ** 2, `standby rss ${own.standbys[0].rss}`);
    assert.equal(own.standbys[0].pool, '', 'the heavy pool has no env of its own: the host standby serves it');

    const started = await call('POST', '/workers/start/heavy');
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const [rep] = await waitFor(async () => { const r = await replicas('heavy'); return r.length === 1 && r[0].state === 'idle' ? r : undefined; }, 20_000, 'the started replica');
    const ensure = await call('POST', '/workers/ensure/heavy');
    assert.equal(ensure.body.started, 0, 'one is already up');

    const stop = await call('POST', `/workers/stop/${rep.id}`);
    assert.deepEqual([stop.status, stop.body.state], [202, 'draining']);
    await waitFor(async () => (await replicas('heavy')).length === 0, 20_000, 'the stopped replica gone');
    const ensured = await call('POST', '/workers/ensure/heavy');
    assert.equal(ensured.body.started, 1);
    await waitFor(async () => (await replicas('heavy')).length === 1, 20_000, 'an ensured replica');
  });

  test('pools: pin replicas (pauses autoscaling), pause, resume; the autoscaling view and scale events agree', async () => {
    const pinned = await call('PUT', '/pools/heavy/replicas', { body: { replicas: 2 } });
    assert.equal(pinned.status, 200, JSON.stringify(pinned.body));
    assert.equal(pinned.body.autoscaling, 'paused');
    assert.equal(pinned.body.pinned, 2);
    await waitFor(async () => (await pool('heavy')).replicas.current === 2, 20_000, 'heavy at 2');
    const view = (await call('GET', '/autoscaling')).body.pools.find((p: { pool: string }) => p.pool === 'heavy');
    assert.equal(view.status, 'paused');
    assert.equal(view.replicas.max, 3);
    for (const k of ['queue', 'utilisationPercent', 'shouldScaleUp', 'shouldScaleDown', 'thresholds', 'cooldownRemaining', 'reason']) assert.ok(k in view, k);
    // The original autoscaler's shape at its own path, field by field: one pool, then the default queue's pool with
    // every pool under `pools`.
    const one = (await call('GET', '/api/metrics/autoscaling?pool=heavy')).body;
    assert.deepEqual(one, {
      autoscaling: { enabled: false, minWorkers: 0, maxWorkers: 3, scaleUpThreshold: 1, scaleDownThreshold: 0, status: 'pinned' },
      analysis: { queue: { pending: 0, running: 0, total: 0 }, metrics: { utilizationPercent: 0, shouldScaleUp: false, shouldScaleDown: false } },
    });
    const all = (await call('GET', '/api/metrics/autoscaling')).body;
    assert.deepEqual(Object.keys(all), ['autoscaling', 'analysis', 'pools']);
    assert.deepEqual(all.autoscaling, { enabled: true, minWorkers: 1, maxWorkers: 1, scaleUpThreshold: 4, scaleDownThreshold: 4, status: 'active' }, 'the default queue (work) is the light pool\'s; target policy: 4 a replica');
    assert.deepEqual(Object.keys(all.pools), ['light', 'heavy']);
    assert.deepEqual(all.pools.heavy, one);
    assert.equal((await call('GET', '/api/metrics/autoscaling?pool=nope')).status, 404);
    const p = await pool('heavy');
    assert.equal(p.costPerHour, 1, '2 replicas at 0.5/h');
    assert.match(p.decision.reason, /autoscaling paused, pinned at 2/);

    const events = (await call('GET', '/events/scaling?pool=heavy&limit=5')).body.events;
    assert.ok(events.some((e: { to: number; manual?: boolean }) => e.to === 2 && e.manual), JSON.stringify(events));
    assert.equal((await call('POST', '/pools/heavy/resume')).body.autoscaling, 'on');
    await waitFor(async () => (await pool('heavy')).replicas.current === 0, 30_000, 'resumed heavy idles back to zero');
    assert.equal((await call('POST', '/pools/light/pause')).body.autoscaling, 'paused');
    assert.equal((await call('POST', '/pools/light/resume')).body.autoscaling, 'on');
  });

  test('the event stream: ticks with every pool, overrides and scale events as they happen', async () => {
    const s = await openSse(`${base}/events`);
    const tick = await s.next((f) => f.event === 'tick');
    assert.deepEqual(tick.data.pools.map((p: { name: string }) => p.name), ['light', 'heavy']);
    assert.ok('waitP95' in tick.data.pools[0] && 'reason' in tick.data.pools[0]);
    await call('PUT', '/pools/heavy/replicas', { body: { replicas: 1 } });
    const o = await s.next((f) => f.event === 'override');
    assert.deepEqual([o.data.pool, o.data.paused, o.data.replicas], ['heavy', true, 1]);
    const up = await s.next((f) => f.event === 'scale' && f.data.pool === 'heavy');
    assert.equal(up.data.to, 1);
    const rep = await s.next((f) => f.event === 'replica' && f.data.changed.some((r: { pool: string }) => r.pool === 'heavy'));
    assert.ok(rep.data.changed[0].id);
    s.close();
    await call('POST', '/pools/heavy/resume');
  });

  test('Redis restarts: readiness turns 503 and back, metrics say the scrape could not read, and nothing is lost', async () => {
    const j = await submit('fx.echo', { value: 'before' }, { delay: '1h' });
    await redis.kill();
    try {
      const down = await waitFor(async () => { const r = await call('GET', '/readyz', { token: null }); return r.status === 503 ? r : undefined; }, 10_000, 'readyz 503');
      assert.equal(down.body.checks.redis.ok, false);
      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^trireme_scrape_redis_ok 0$/m);
      assert.equal((await call('GET', '/healthz', { token: null })).status, 200, 'the process is still up');
      const refused = await call('POST', '/jobs', { body: { task: 'fx.echo' } });
      assert.deepEqual([refused.status, refused.body.error.code], [503, 'redis_unavailable'], 'a write fails at once, not later');
      assert.equal((await call('GET', '/pools')).status, 503);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await call('GET', '/readyz', { token: null })).status === 200, 20_000, 'readyz 200 again');
    assert.equal((await job(j.id)).state, 'delayed', 'the delayed job survived the restart');
    await waitFor(async () => (await pool('light')).replicas.current === 1, 20_000, 'the light replica back in the registry');
  });

  test('the CLI reads the same state: status, workers, jobs, job, doctor', async () => {
    const env = { TRIREME_REDIS_URL: redis.url };
    const j = await submit('fx.logs', { lines: 3 });
    await finished(j.id);
    const status = await run(['-c', CONFIG, 'status', '--json'], env);
    assert.equal(status.code, 0, status.out);
    assert.deepEqual(JSON.parse(status.out).pools.map((p: { name: string }) => p.name), ['light', 'heavy']);
    const workers = await run(['-c', CONFIG, 'workers'], env);
    assert.match(workers.out, /^ID\s+POOL\s+HOST/m);
    assert.match(workers.out, /light-\S+\s+light/);
    const jobs = await run(['-c', CONFIG, 'jobs', '--state', 'completed', '--task', 'fx.logs', '--json'], env);
    assert.ok(JSON.parse(jobs.out).jobs.some((x: { id: string }) => x.id === j.id));
    const follow = await run(['-c', CONFIG, 'job', j.id, '--follow'], env);
    assert.equal(follow.code, 0, follow.out);
    assert.match(follow.out, /line 1\nline 2\nline 3\n/);
    assert.match(follow.out, /-- completed: \{"lines":3\}/);
    assert.equal(follow.out.match(/-- completed/g)!.length, 1, 'the final state is said once');
    const doctor = await run(['-c', CONFIG, 'doctor'], env);
    assert.equal(doctor.code, 0, doctor.out);
    assert.match(doctor.out, /^ok\s+redis\s+\d+\.\d+\.\d+ at/m);
    assert.match(doctor.out, /^ok\s+controller\s+\S+ holds the lease/m);
    assert.match(doctor.out, /^ok\s+pool light\s+1 live/m);
    const down = await run(['-c', CONFIG, 'doctor'], { TRIREME_REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(down.code, 1, down.out);
    assert.match(down.out, /^FAIL\s+redis\s+no answer from redis:\/\/127\.0\.0\.1:1 within 2 s/m);
    assert.match(down.out, /^ok\s+disk\s+/m);
    const bad = await run(['-c', CONFIG, 'jobs', '--state', 'sleeping'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--state: unknown state "sleeping"/);
  });
});
