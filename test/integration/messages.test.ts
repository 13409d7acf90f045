/**
 * What Trireme says to a new user, checked as printed (issue 27's messages): a submit to a paused pool, a wait that
 * runs out, a payload its schema refuses, a job handed back while its pool was busy, the file simulate wrote, a pool
 * this host can never hold at its max, a replica started (said once), and `npm start` building.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { ROOT, startRedis, waitFor, type TestRedis } from '../helpers.js';
import { loadProject, type Project } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { bullConnection } from '../../src/redis/connection.js';
import { createApi, type Api } from '../../src/api/server.js';
import { reapAll, run, trireme } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/autoscale.yml');
let redis: TestRedis;
let project: Project;
let client: TriremeClient;
let api: Api;
let base: string;
const cli = (args: string[]) => run(['-c', CONFIG, ...args], { TRIREME_REDIS_URL: redis.url });
const post = async (body: unknown) => {
  const res = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as Record<string, unknown> & { error?: { code: string; message: string; field?: string } } };
};

describe('messages', () => {
  before(async () => {
    redis = await startRedis();
    project = await loadProject(CONFIG, { TRIREME_REDIS_URL: redis.url });
    client = new TriremeClient(project, redis.url);
    // No serve: no replica takes these jobs, so they stay where the tests put them.
    api = await createApi({ project, redisUrl: redis.url });
    base = await api.listen('127.0.0.1', 0);
  });
  after(async () => {
    await reapAll();
    await api.close();
    await client.close();
    await redis.stop();
  });

  test('a submit to a paused pool is accepted with a warning: on stderr from the CLI, as `warning` from POST /jobs', async () => {
    const store = new ControlStore(client.redis, project.config.prefix);
    assert.equal((await post({ task: 'fx.echo' })).body.warning, undefined, 'no warning while the pool autoscales');
    await store.pause('heavy');
    try {
      const cliSubmit = await cli(['submit', 'fx.echo', '--json']);
      assert.equal(cliSubmit.code, 0, cliSubmit.out);
      assert.match(cliSubmit.out, /^trireme: warning: pool "heavy" is paused with 0 live replica\(s\): nothing runs the job until it is resumed \(trireme resume heavy, or POST \/pools\/heavy\/resume\)$/m);
      const answer = await post({ task: 'fx.echo' });
      assert.equal(answer.status, 201);
      assert.match(String(answer.body.warning), /^pool "heavy" is paused with 0 live replica\(s\): nothing runs the job until it is resumed/);
      assert.match(String((await post({ jobs: [{ task: 'fx.echo' }] })).body.warning), /pool "heavy" is paused/);
      await store.setReplicas('heavy', 2);
      assert.match(String((await post({ task: 'fx.echo' })).body.warning), /^pool "heavy" is paused \(pinned at 2\) with 0 live replica\(s\)/);
    } finally {
      await store.resume('heavy');
    }
  });

  test('--wait --timeout that runs out says the job is still queued, not failed, and exits 124', async () => {
    const r = await cli(['submit', 'fx.echo', '--wait', '--timeout', '1s']);
    assert.equal(r.code, 124, r.out);
    assert.match(r.out, /^heavy~\S+ timed out waiting after 1s: the job is still queued \(waiting\), not failed; follow it with trireme job heavy~\S+ --follow$/m);
    assert.doesNotMatch(r.out, /failed:/);
    const j = await cli(['submit', 'fx.echo', '--wait', '--timeout', '1s', '--json']);
    assert.equal(j.code, 124, j.out);
    assert.deepEqual((({ state, timedOut }) => ({ state, timedOut }))(JSON.parse(/^\{.*\}$/m.exec(j.out)![0])), { state: 'waiting', timedOut: true });
  });

  test('a payload its zod schema refuses is one line per field, from the CLI and the API', async () => {
    const r = await cli(['submit', 'fx.typed', '--data', '{"n":"x","name":"A"}']);
    assert.equal(r.code, 2, r.out);
    assert.equal(r.out, 'trireme: payload for "fx.typed" is invalid:\n  payload.n: expected number, got string\n  payload.name: Invalid string: must match pattern /^[a-z]+$/\n');
    const one = await cli(['submit', 'fx.typed', '--data', '{"n":1,"name":"ab","x":1}']);
    assert.equal(one.out, 'trireme: payload for "fx.typed" is invalid: payload: Unrecognized key: "x"\n');
    const answer = await post({ task: 'fx.typed', payload: { n: 'x', name: 'ab' } });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.body.error, { code: 'invalid_payload', message: 'payload for "fx.typed" is invalid: payload.n: expected number, got string', field: 'body.payload' });
  });

  test('job ID says a job handed back while its pool was busy was handed back, not lost, and "attempt 1 of 1, running" while it runs', async () => {
    // On light's queue, which no other test here uses: the fetches below take the oldest job of the queue.
    const { id, queue } = await client.submit('fx.echo', {}, { queue: 'work' });
    const show = async () => { const r = await cli(['job', id]); assert.equal(r.code, 0, r.out); return r.out; };
    assert.match(await show(), /^attempts {3}0 of 1, not run yet$/m);
    // A replica that fetches the job while every slot is taken (or while draining) puts it back: BullMQ counts a start.
    const w = new Worker(queue, undefined, { connection: bullConnection(redis.url), prefix: project.config.prefix, autorun: false });
    try {
      for (let i = 0; i < 3; i++) await (await w.getNextJob('busy'))!.moveToWait('busy');
      const waiting = await show();
      assert.match(waiting, /^attempts {3}0 of 1 {2}\(handed back 3 time\(s\) without running: the pool was busy or draining\)$/m);
      assert.doesNotMatch(waiting, /lost|started \d+ times/);
      await w.getNextJob('runs');
      assert.match(await show(), /^attempt {4}1 of 1, running {2}\(handed back 3 time\(s\) without running: the pool was busy or draining\)$/m);
    } finally {
      await w.close();
    }
  });

  test('simulate --out says which file it wrote', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'trireme-sim-')), 'chart.svg');
    const r = await run(['-c', join(ROOT, 'examples/three-tier/trireme.yml'), 'simulate', '--trace', join(ROOT, 'examples/traces/seed-burst.csv'), '--out', out]);
    assert.equal(r.code, 0, r.out);
    assert.ok(existsSync(out));
    assert.match(r.out, new RegExp(`^trireme: wrote the chart to ${out.replace(/[.\\/]/g, '\\$&')}$`, 'm'));
  });

  test('simulate --sweep says which file it wrote and prints every run of every policy per pool; a bad value names itself', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'trireme-sweep-')), 'curves.html');
    const args = ['-c', join(ROOT, 'examples/three-tier/trireme.yml'), 'simulate', '--trace', join(ROOT, 'examples/traces/seed-burst.csv'), '--sweep'];
    const r = await run([...args, '--values', '20s,5m', '--policy', 'trireme', 'keda-default', '--out', out]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`^trireme: wrote the report \\(curves and tables\\) to ${out.replace(/[.\\/]/g, '\\$&')}$`, 'm'));
    assert.match(readFileSync(out, 'utf8'), /<title>Cost curves: seed-burst.csv<\/title>/);
    assert.match(r.out, /^pool heavy: every run \(5 jobs\)$/m);
    assert.match(r.out, /^trireme +idleShutdown 20s +own +\d+ /m);
    assert.match(r.out, /^keda-default +cooldownPeriod 5m +own +\d+ /m);
    const bad = await run([...args, '--values', '20s,soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--values: item 2 \("soon"\): /);
  });

  test('serve warns about a pool this host can never hold at its max, and a replica says "replica started" once', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trireme-room-'));
    const config = join(dir, 'trireme.yml');
    // 2 cpu, overcommit 1: light's min replica takes 1, so heavy (max 3, the default resources.cpu: 1) fits 1.
    writeFileSync(config, readFileSync(CONFIG, 'utf8')
      .replace('tasks: [./tasks.ts]', `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/tasks.ts'))}]\nprefix: room`)
      .replace('capacity: { overcommit: 8 }', 'capacity: { cpu: 2 }'));
    const s = trireme(['-c', config, 'serve', '--no-api'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
    const lines = () => s.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; pool?: string; replica?: string; name: string });
    const started = await waitFor(() => lines().find((l) => l.msg === 'replica started' && l.pool === 'light'), 60_000, `light's replica: ${s.output()}`);
    const room = lines().find((l) => l.msg.startsWith('pool heavy can never reach'));
    assert.ok(room, s.output());
    assert.equal(room.level, 40);
    assert.equal(room.msg, "pool heavy can never reach its max of 3: this host has room for 1 of its replicas (1 cpu left beside the other pools' min replicas, 1 cpu each); "
      + 'set pools.heavy.resources.cpu to what one replica really uses, or raise capacity.overcommit (now 1)');
    assert.ok(!lines().some((l) => l.msg.startsWith('pool light can never')), 'light fits its max');
    // The driver says it starts the replica; the replica says it started, once.
    assert.equal(lines().filter((l) => l.msg === 'replica started' && l.replica === started.replica).length, 1, s.output());
    assert.ok(lines().some((l) => l.msg === 'starting a replica' && l.replica === started.replica));
    s.child.kill('SIGTERM');
    assert.equal((await s.exited).code, 0, s.output().slice(-2000));
  });

  test('npm start says it builds before the build starts', () => {
    // The prestart script as npm runs it, with npm itself standing in to show the order of what happens.
    const bin = mkdtempSync(join(tmpdir(), 'trireme-npm-'));
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'npm'), '#!/bin/sh\necho "npm $*" >&2\n');
    chmodSync(join(bin, 'npm'), 0o755);
    const script = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.prestart;
    const out = execFileSync('sh', ['-c', `( ${script} ) 2>&1`], { cwd: ROOT, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    assert.equal(out, 'trireme: building dist/ first (about 20 s)...\nnpm run build --silent\n');
  });
});
