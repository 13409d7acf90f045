/**
 * Prometheus metrics with the real tools: `promtool check metrics` on what `/metrics` serves, and a real Prometheus
 * server that scrapes `trireme serve` and answers PromQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { freePort } from '../../src/redis/embedded.js';
import { trireme, run, reapAll, type Proc } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/api.yml');
let redis: TestRedis;
let serve: Proc;
let base: string;
let prometheus: ChildProcess | undefined;

const post = async (path: string, body?: unknown, method = 'POST') => {
  const res = await fetch(`${base}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  assert.ok(res.status < 300, `${path}: ${res.status} ${text}`);
  return JSON.parse(text);
};
const scrape = async () => (await fetch(`${base}/metrics`)).text();
/** The value of one sample, by its full name with labels as printed. */
const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('Prometheus metrics', () => {
  before(async () => {
    redis = await startRedis();
    serve = trireme(['-c', CONFIG, 'serve', '--port', '0'], { TRIREME_REDIS_URL: redis.url });
    base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 30_000, 'serve to print its address');
  });
  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const gone = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      await gone;
    }
    await reapAll();
    await redis.stop();
  });

  test('/metrics counts jobs, durations and waits, replicas and scale events; promtool accepts it with no warnings', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, async (_, i) => (await post('/jobs', { task: 'fx.sleep', payload: { ms: 100 * (i + 1) } })).id as string));
    const failed = (await post('/jobs', { task: 'fx.fail', options: { retries: 0 } })).id as string;
    await waitFor(async () => {
      const j = await Promise.all(ids.map(async (id) => (await (await fetch(`${base}/jobs/${encodeURIComponent(id)}`)).json()).state));
      return j.every((s) => s === 'completed');
    }, 30_000, 'jobs done');
    // Replicas flush their counters on their heartbeat (1 s).
    const text = await waitFor(async () => {
      const t = await scrape();
      return (sample(t, 'trireme_jobs_total{queue="heavy",outcome="completed"}') ?? 0) >= 4 && (sample(t, 'trireme_jobs_total{queue="heavy",outcome="failed"}') ?? 0) >= 1 ? t : undefined;
    }, 15_000, 'the job counters');
    assert.equal(sample(text, 'trireme_jobs_submitted_total{queue="heavy"}'), 5);
    assert.equal(sample(text, 'trireme_job_duration_seconds_count{queue="heavy"}'), 5);
    // Four sleeps of 0.1-0.4 s and one instant failure. Each duration is measured by its replica inside BullMQ's
    // processed..finished window of the job; that is what the code promises, not "at least the time slept" (a timer
    // may fire a millisecond early on Node's cached loop clock). So: a job whose window fits under a bucket's bound
    // is counted in that bucket, the sum is no more than the windows' sum, and the buckets are cumulative.
    const windows = await Promise.all([...ids, failed].map(async (id) => {
      const v = await (await fetch(`${base}/jobs/${encodeURIComponent(id)}`)).json() as { startedAt: number; finishedAt: number };
      return (v.finishedAt - v.startedAt) / 1000;
    }));
    const bucket = (le: string) => sample(text, `trireme_job_duration_seconds_bucket{queue="heavy",le="${le}"}`)!;
    for (const le of ['0.1', '0.25', '0.5']) {
      assert.ok(bucket(le) >= windows.filter((w) => w <= Number(le)).length, `le=${le}: ${bucket(le)}, windows ${windows}`);
    }
    assert.ok(bucket('0.1') <= bucket('0.25') && bucket('0.25') <= bucket('0.5') && bucket('0.5') <= bucket('+Inf'));
    assert.equal(bucket('+Inf'), 5);
    const sum = sample(text, 'trireme_job_duration_seconds_sum{queue="heavy"}')!;
    // Windows are whole milliseconds, durations too: 1 ms of rounding per job at most.
    assert.ok(sum > 0 && sum <= windows.reduce((a, b) => a + b, 0) + 0.005, `duration sum ${sum}, windows ${windows}`);
    assert.equal(sample(text, 'trireme_job_queue_wait_seconds_count{queue="heavy"}'), 5);
    // heavy was at zero: the first jobs waited for its first replica to start (later ones may have found it up).
    const cold = sample(text, 'trireme_cold_starts_total{queue="heavy"}')!;
    assert.ok(cold >= 1 && cold <= 5, `cold starts ${cold}`);
    assert.equal(sample(text, 'trireme_cold_starts_total{queue="work"}') ?? 0, 0, 'the light pool was up before its jobs (none here)');
    assert.equal(sample(text, 'trireme_pool_replicas{pool="light",state="idle"}'), 1);
    assert.ok((sample(text, 'trireme_scaling_events_total{pool="heavy",direction="up"}') ?? 0) >= 1);
    assert.equal(sample(text, 'trireme_controller_leader'), 1);
    assert.ok((sample(text, 'trireme_controller_loop_duration_seconds_count') ?? 0) >= 1);
    assert.match(text, /^# TYPE trireme_job_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE trireme_scaling_events_total counter$/m);

    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(check.error, undefined, 'promtool is installed (Debian package prometheus)');
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no warnings');
    assert.equal(check.status, 0);
  });

  test('a real Prometheus scrapes trireme serve and answers a PromQL query for a queue depth', async () => {
    // Three jobs wait on a pool pinned at zero replicas: the depth is known and stays put.
    await post('/pools/heavy/replicas', { replicas: 0 }, 'PUT');
    await waitFor(async () => (await (await fetch(`${base}/pools/heavy`)).json()).replicas.current === 0, 30_000, 'heavy at zero');
    const submittedAt = Date.now();
    for (let i = 0; i < 3; i++) await post('/jobs', { task: 'fx.echo', payload: { value: i } });
    // The oldest of them has waited since its submit: the gauge, the pool's status and the CLI agree on it.
    const waited = await waitFor(async () => {
      const v = sample(await scrape(), 'trireme_queue_oldest_wait_seconds{queue="heavy"}');
      return v !== undefined && v >= 1 ? v : undefined;
    }, 15_000, 'the oldest wait to pass a second');
    assert.ok(waited <= (Date.now() - submittedAt) / 1000 + 0.5, `oldest wait ${waited} s, submitted ${(Date.now() - submittedAt) / 1000} s ago`);
    assert.equal(sample(await scrape(), 'trireme_queue_oldest_wait_seconds{queue="work"}'), 0, 'nothing waits on the light pool');
    const pool = await (await fetch(`${base}/pools/heavy`)).json() as { depths: { oldestWaitSeconds: number; byQueue: Record<string, { oldestWaitSeconds: number }> } };
    assert.ok(pool.depths.oldestWaitSeconds >= waited && pool.depths.oldestWaitSeconds === pool.depths.byQueue.heavy.oldestWaitSeconds);
    const status = await run(['-c', CONFIG, 'status'], { TRIREME_REDIS_URL: redis.url });
    const [head, ...rows] = status.out.trim().split('\n').map((l) => l.split(/\s{2,}/));
    const col = head.indexOf('OLDEST WAIT');
    assert.ok(col > 0, status.out);
    assert.match(rows.find((r) => r[0] === 'heavy')![col], /^\d+s$/, status.out);
    assert.equal(rows.find((r) => r[0] === 'light')![col], '-', 'nothing waits there');

    const dir = mkdtempSync(join(tmpdir(), 'trireme-prom-'));
    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: trireme',
      `    static_configs: [{ targets: ["${base.replace('http://', '')}"] }]`,
    ].join('\n'));
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    const query = encodeURIComponent('sum(trireme_queue_jobs{queue="heavy",state="waiting"})');
    const value = await waitFor(async () => {
      const r = await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${query}`)).json() as { data: { result: { value: [number, string] }[] } };
      return r.data.result[0]?.value[1];
    }, 60_000, 'Prometheus to answer from a scrape');
    assert.equal(value, '3');
    const up = await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=up`)).json() as { data: { result: { value: [number, string] }[] } };
    assert.equal(up.data.result[0].value[1], '1', 'the target is up');
  });
});
