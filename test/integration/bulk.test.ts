/**
 * Many jobs at once: the client's submitMany, `POST /jobs` with a list and `trireme submit --file`. All or nothing:
 * one bad entry refuses the whole list by its index and field, and nothing is enqueued. A real Redis, a real
 * replica (in this process) and the real CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, fixtureProject, waitFor, type TestRedis } from '../helpers.js';
import { createApi, type Api } from '../../src/api/server.js';
import { TriremeClient, SubmitError } from '../../src/jobs/client.js';
import { PoolWorker } from '../../src/replica/pool-worker.js';
import { keys } from '../../src/redis/keys.js';
import type { Project } from '../../src/project/project.js';
import { run } from './procs.js';

let redis: TestRedis;
let project: Project;
let client: TriremeClient;
let api: Api;
let base: string;

const counts = () => client.queue('work').getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
const submitted = async () => Number(await client.redis.hget(keys.stats(project.config.prefix, 'work'), 'submitted') ?? 0);
const post = async (body: unknown) => {
  const res = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as any };
};

describe('bulk submit', () => {
  before(async () => {
    redis = await startRedis();
    project = await fixtureProject({ concurrency: 100 }, { redis: { url: redis.url } });
    client = new TriremeClient(project, redis.url);
    api = await createApi({ project, redisUrl: redis.url });
    base = await api.listen('127.0.0.1', 0);
  });
  after(async () => {
    await api.close();
    await client.close();
    await redis.stop();
  });

  test('one bad payload refuses the whole list, naming its index and field; nothing is enqueued', async () => {
    const payloads = [{ n: 1 }, { n: 2 }, { n: 'three' }, { n: 4 }];
    await assert.rejects(client.submitMany('fx.square', payloads), (e: unknown) => e instanceof SubmitError && e.field === 'payloads.2' && /job 2: .*n: expected a number/.test(e.message));
    const api = await post({ jobs: [{ task: 'fx.square', payload: { n: 1 } }, { task: 'fx.echo' }, { task: 'fx.square', payload: {} }] });
    assert.equal(api.status, 400);
    assert.deepEqual([api.body.error.code, api.body.error.field], ['invalid_payload', 'body.jobs.2.payload']);
    const unknown = await post({ jobs: [{ task: 'fx.echo' }, { task: 'fx.nope' }] });
    assert.deepEqual([unknown.status, unknown.body.error.field], [400, 'body.jobs.1.task']);
    const option = await post({ jobs: [{ task: 'fx.echo', options: { delay: '1 fortnight' } }] });
    assert.deepEqual([option.status, option.body.error.field], [400, 'body.jobs.0.options.delay']);
    assert.deepEqual(Object.values(await counts()).reduce((a, b) => a + b, 0), 0, 'nothing was enqueued');
    assert.equal(await submitted(), 0, 'no arrivals were counted');
  });

  test('the API answers every id in order; the CLI reads NDJSON and refuses a bad line by its number', async () => {
    const ok = await post({ jobs: [{ task: 'fx.square', payload: { n: 3 } }, { task: 'fx.echo', payload: { value: 1 }, options: { priority: 1 } }] });
    assert.equal(ok.status, 201);
    assert.deepEqual(ok.body.jobs.map((j: { task: string }) => j.task), ['fx.square', 'fx.echo']);
    const dir = mkdtempSync(join(tmpdir(), 'trireme-bulk-'));
    const env = { TRIREME_REDIS_URL: redis.url };
    const config = join(dir, 'trireme.yml');
    writeFileSync(config, `prefix: ${project.config.prefix}\ntasks: [${JSON.stringify(join(process.cwd(), 'test/fixtures/tasks.ts'))}]\ndefaultQueue: work\npools:\n  main: { queues: [work] }\n`);
    writeFileSync(join(dir, 'bad.ndjson'), '{"n":1}\n{"n":2}\nnot json\n');
    const bad = await run(['-c', config, 'submit', 'fx.square', '--file', join(dir, 'bad.ndjson')], env);
    assert.equal(bad.code, 2, bad.out);
    assert.match(bad.out, /bad\.ndjson, line 3: not JSON/);
    writeFileSync(join(dir, 'wrong.ndjson'), '{"n":1}\n{"n":"x"}\n');
    const wrong = await run(['-c', config, 'submit', 'fx.square', '--file', join(dir, 'wrong.ndjson')], env);
    assert.equal(wrong.code, 2, wrong.out);
    assert.match(wrong.out, /job 1: payload for "fx\.square" is invalid/);
    writeFileSync(join(dir, 'good.ndjson'), '{"task":"fx.square","payload":{"n":5}}\n\n{"task":"fx.echo"}\n{"task":"fx.noop","options":{"delay":"1h"}}\n');
    const good = await run(['-c', config, 'submit', '--file', join(dir, 'good.ndjson'), '--json'], env);
    assert.equal(good.code, 0, good.out);
    const ids = (JSON.parse(good.out) as { id: string }[]).map((j) => j.id);
    assert.equal(ids.length, 3);
    assert.equal((await client.getJob(ids[2]))?.state, 'delayed', 'each line\'s own options apply');
    assert.equal(await submitted(), 5, 'arrivals counted: 2 from the API, 3 from the CLI');
    await client.queue('work').obliterate({ force: true });
  });

  test('10 000 jobs through submitMany all complete, each once', { timeout: 300_000 }, async () => {
    await client.queue('work').obliterate({ force: true });
    const before = await submitted();
    const jobs = await client.submitMany('fx.square', Array.from({ length: 10_000 }, (_, n) => ({ n })));
    assert.equal(new Set(jobs.map((j) => j.id)).size, 10_000);
    assert.equal(await submitted() - before, 10_000, 'every arrival counted');
    const worker = new PoolWorker({ project, pool: 'main', redisUrl: redis.url });
    await worker.start();
    try {
      await waitFor(async () => (await counts()).completed === 10_000, 240_000, '10 000 completed');
    } finally {
      await worker.drain(10_000);
    }
    const c = await counts();
    assert.deepEqual([c.failed, c.waiting, c.active], [0, 0, 0]);
    // Each ran once: one attempt made and one started; spot-check results across the list.
    for (const i of [0, 1, 4_999, 9_999]) {
      const v = await client.getJob(jobs[i].id);
      assert.deepEqual([v?.result, v?.attempts, v?.starts], [i * i, 1, 1]);
    }
  });

  test('results awaited 50 at a time all arrive, with no listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => { warnings.push(`${w.name}: ${w.message}`); };
    process.on('warning', onWarning);
    const worker = new PoolWorker({ project, pool: 'main', redisUrl: redis.url });
    await worker.start();
    try {
      const jobs = await client.submitMany('fx.square', Array.from({ length: 50 }, (_, n) => ({ n })));
      const results = await Promise.all(jobs.map((j) => client.waitFor(j.id, 60_000)));
      assert.deepEqual(results, Array.from({ length: 50 }, (_, n) => n * n));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => /MaxListeners/.test(w)), []);
    } finally {
      process.off('warning', onWarning);
      await worker.drain(10_000);
    }
  });

  test('jobs are listed newest first, as documented, across pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await client.submit('fx.square', { n: i }, { delay: '1h' })).id);
      await new Promise((r) => setTimeout(r, 5)); // distinct submit times
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.list({ task: 'fx.square', state: ['delayed'], limit: 2, cursor });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    assert.deepEqual(seen.filter((id) => ids.includes(id)), [...ids].reverse());
  });

  test('a group\'s parent job is kept as long as its runs are: a day completed, a week failed, both bounded in count', async () => {
    const group = await client.submitGroup('fx.square', [{ n: 1 }, { n: 2 }]);
    const parent = await client.queue(group.queue).getJob(group.id);
    const child = await client.queue(group.queue).getJob(group.children[0]);
    assert.deepEqual([parent!.opts.removeOnComplete, parent!.opts.removeOnFail], [child!.opts.removeOnComplete, child!.opts.removeOnFail]);
    assert.deepEqual(parent!.opts.removeOnFail, { age: 7 * 86_400, count: 10_000 });
  });

  test('ids: numbered lets BullMQ number the jobs: queue~N ids that complete, are found, followed, waited on and cancelled as any other', async () => {
    const worker = new PoolWorker({ project, pool: 'main', redisUrl: redis.url });
    await worker.start();
    try {
      const jobs = await client.submitMany('fx.square', [{ n: 2 }, { n: 3 }], { ids: 'numbered' });
      for (const j of jobs) assert.match(j.id, /^work~\d+$/);
      assert.deepEqual(await Promise.all(jobs.map((j) => client.waitFor(j.id, 30_000))), [4, 9]);
      const view = await client.getJob(jobs[0].id);
      assert.deepEqual([view?.id, view?.state, view?.result], [jobs[0].id, 'completed', 4]);
      assert.ok((await client.list({ queue: 'work', state: ['completed'], limit: 500 })).jobs.some((v) => v.id === jobs[1].id), 'listed under its Trireme id');
      const one = await client.submit('fx.sleep', { ms: 60_000 }, { ids: 'numbered' });
      assert.match(one.id, /^work~\d+$/);
      await waitFor(async () => (await client.getJob(one.id))?.state === 'active', 30_000, 'the numbered job running');
      const cancelled = await client.cancel(one.id);
      assert.deepEqual([cancelled.was, cancelled.state], ['active', 'failed'], 'the replica knew it by its Trireme id');
      assert.equal((await client.getJob(one.id))?.error, 'cancelled');
    } finally {
      await worker.drain(1_000);
    }
    await assert.rejects(client.submit('fx.echo', {}, { ids: 'numbered', idempotencyKey: 'k1' }), (e: unknown) => e instanceof SubmitError && e.field === 'ids');
    await assert.rejects(client.submitGroup('fx.echo', [{}], { ids: 'numbered' }), (e: unknown) => e instanceof SubmitError && e.field === 'ids');
  });
});
