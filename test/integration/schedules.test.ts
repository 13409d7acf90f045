/**
 * Job schedules end to end on BullMQ's job schedulers: two real serves on one Redis, a schedule every 2 s. Runs go on
 * across a leader failover with every scheduled time once (no run created twice by the second controller), a pool at
 * zero is woken for the runs of another schedule, `trireme schedules` and GET /schedules show next and last runs, and
 * a schedule removed from the config is removed from Redis when serve restarts. A bad cron is refused at start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { Lease } from '../../src/stores/lease.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { trireme, reapAll, run, type Proc } from './procs.js';

const EVERY = 2_000;
let redis: TestRedis;
let conn: Redis;
let dir: string;
let config: string;
const ticks = () => join(dir, 'ticks.log');
const sleepy = () => join(dir, 'sleepy.log');

/** The fixture config, with or without its schedules. */
function writeConfig(withSchedules: boolean): void {
  writeFileSync(config, [
    `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/ops-tasks.ts'))}]`,
    'defaultQueue: ticks',
    'controller: { interval: 500ms, leaseTtl: 2s }',
    'capacity: { overcommit: 8 }',
    'api: { port: 0 }',
    'pools:',
    '  ticks: { queues: [ticks], drainGrace: 2s, scaling: { min: 1, max: 1 } }',
    '  sleepy: { queues: [sleepy], drainGrace: 2s, standby: false, scaling: { min: 0, max: 1, idleShutdown: 1s, cooldownDown: 0s, stabilization: 0s, startupTime: 1s, keepWarm: false } }',
    ...(withSchedules ? [
      'schedules:',
      `  tick: { task: ops.tick, every: 2s, payload: { file: ${JSON.stringify(ticks())} } }`,
      `  nap: { task: ops.tick, every: 6s, options: { queue: sleepy }, payload: { file: ${JSON.stringify(sleepy())} } }`,
    ] : []),
  ].join('\n'));
}

const serve = (): Proc & { address: Promise<string> } => {
  const p = trireme(['-c', config, 'serve', '--grace', '3s'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
  return { ...p, address: waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(p.output())?.[1], 60_000, 'serve to listen') };
};

/** Each run noted by the task: its job id and the time (ms) it was due, from the id BullMQ gave it. */
function runs(file: string): { id: string; due: number; started: number }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [id, started] = l.split(' ');
    return { id, due: Number(/:(\d+)$/.exec(id)![1]), started: Number(started) };
  });
}

/** What a serve's log says each reconciliation changed. */
const reconciled = (log: string): { created: string[]; updated: string[]; removed: string[] }[] => log.split('\n')
  .filter((l) => l.includes('"msg":"job schedules reconciled with the config"')).map((l) => JSON.parse(l));

describe('job schedules', () => {
  before(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url);
    dir = mkdtempSync(join(tmpdir(), 'trireme-sched-'));
    config = join(dir, 'trireme.yml');
  });
  after(async () => {
    await reapAll();
    conn.disconnect();
    await redis.stop();
  });

  test('every 2 s across a leader failover: each scheduled time once, runs go on; a pool at zero wakes for its runs', async () => {
    writeConfig(true);
    const a = serve();
    await a.address;
    const lease = new Lease(conn, 'trireme', 'test', 1);
    const first = await waitFor(() => lease.currentHolder(), 20_000, 'a leader');
    const b = serve();
    await b.address;
    await waitFor(() => runs(ticks()).length >= 3, 60_000, 'three runs');
    const [leader, standby] = first.includes(`-${a.child.pid}-`) ? [a, b] : [b, a];
    // The leader goes away without a word; the standby takes the lease and its own replica.
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => { const h = await lease.currentHolder(); return h && h !== first; }, 60_000, 'a new leader');
    await waitFor(() => runs(ticks()).filter((r) => r.started > killedAt).length >= 4, 60_000, 'four runs after the failover');
    const all = runs(ticks());
    const ids = all.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, `no run twice: ${ids.join(', ')}`);
    assert.ok(ids.every((id) => /^repeat:ticks~s-tick:\d+$/.test(id)), ids.join(', '));
    // On one grid, 2 s apart: a slot is missing only where no replica could take it (the failover).
    const dues = all.map((r) => r.due).sort((x, y) => x - y);
    for (const d of dues) assert.equal((d - dues[0]) % EVERY, 0, `${d} on the grid of ${dues[0]}`);
    const resumed = Math.min(...all.filter((r) => r.started > killedAt).map((r) => r.started));
    const missing: number[] = [];
    for (let t = dues[0]; t <= dues.at(-1)!; t += EVERY) if (!dues.includes(t)) missing.push(t);
    const outside = missing.filter((t) => t < killedAt - EVERY || t > resumed);
    console.log(`# ${all.length} runs, ${missing.length} slot(s) missed, all between the kill and the first run after it (${resumed - killedAt} ms)`);
    assert.deepEqual(outside, [], 'no slot missed outside the failover');
    // The second controller found the schedule as the config has it and wrote nothing.
    assert.deepEqual(reconciled(leader.output()).map((r) => r.created.sort()), [['nap', 'tick']]);
    assert.deepEqual(reconciled(standby.output()), []);
    // The sleepy pool went to zero between its runs and was woken for them, like for any job.
    await waitFor(() => runs(sleepy()).length >= 2, 60_000, 'two runs of the schedule on the pool at zero');
    const events = await new ControlStore(conn, 'trireme').events(200);
    assert.ok(events.filter((e) => e.pool === 'sleepy' && e.from === 0 && e.to === 1).length >= 2, JSON.stringify(events.filter((e) => e.pool === 'sleepy')));
    assert.ok(events.some((e) => e.pool === 'sleepy' && e.to === 0), 'and back to zero between them');

    // What the faces show: next and last run.
    const shown = await run(['-c', config, 'schedules', '--json'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(shown.code, 0, shown.out);
    const tick = JSON.parse(shown.out).schedules.find((s: { name: string }) => s.name === 'tick');
    assert.equal(tick.state, 'active');
    assert.equal(tick.queue, 'ticks');
    assert.equal(tick.every, EVERY);
    assert.ok(tick.next > Date.now() - EVERY && (tick.next - dues[0]) % EVERY === 0, `next ${tick.next}`);
    assert.match(tick.last.jobId, /^repeat:ticks~s-tick:\d+$/);
    assert.equal(tick.last.outcome, 'completed');
    const api = await (await fetch(`${await standby.address}/schedules`)).json() as { schedules: { name: string; state: string }[] };
    assert.deepEqual(api.schedules.map((s) => [s.name, s.state]), [['tick', 'active'], ['nap', 'active']]);
    const table = await run(['-c', config, 'schedules'], { TRIREME_REDIS_URL: redis.url });
    assert.match(table.out, /^tick\s+ops\.tick\s+ticks \(ticks\)\s+every 2s\s+active\s+\S+ \((in \d+s|due)\)\s+\d+\s+completed \d+s ago \(repeat:ticks~s-tick:\d+\)$/m);
    // A run is a job like any other: found by its id.
    const job = await run(['-c', config, 'job', tick.last.jobId, '--json'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(JSON.parse(job.out).state, 'completed', job.out);

    standby.child.kill('SIGTERM');
    assert.equal((await standby.exited).code, 0);
  });

  test('a schedule removed from the config is removed from Redis when serve restarts', async () => {
    const queue = new Queue('ticks', { connection: conn, prefix: 'trireme' });
    assert.deepEqual((await queue.getJobSchedulers()).map((s) => s.key), ['ticks~s-tick']);
    writeConfig(false);
    const c = serve();
    // The new leader reconciles when it takes the lease, and says what it did.
    await waitFor(() => reconciled(c.output()).some((r) => r.removed.sort().join() === 'nap,tick'), 30_000, 'the schedules removed');
    assert.deepEqual(await queue.getJobSchedulers(), []);
    assert.equal(await new Queue('sleepy', { connection: conn, prefix: 'trireme' }).getJobSchedulersCount(), 0);
    assert.deepEqual(await conn.hgetall('trireme:~schedules'), {});
    // Its next run went with it.
    assert.equal((await queue.getDelayed()).filter((j) => j.id?.startsWith('repeat:')).length, 0);
    c.child.kill('SIGTERM');
    assert.equal((await c.exited).code, 0);
    await queue.close();
  });

  test('a bad cron expression or time zone stops serve at start, naming the schedule and the field', async () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'pools: { p: { queues: [default] } }\nschedules:\n  nightly: { task: x, cron: "0 25 * * *" }\n  paris: { task: x, cron: "0 9 * * *", tz: Mars/Olympus }\n');
    const r = await run(['-c', bad, 'serve'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /schedules\.nightly\.cron: "0 25 \* \* \*" is not a cron expression/);
    assert.match(r.out, /schedules\.paris\.tz: "Mars\/Olympus" is not a time zone/);
    const unknown = join(dir, 'unknown.yml');
    writeFileSync(unknown, `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/ops-tasks.ts'))}]\npools: { p: { queues: [default] } }\nschedules:\n  s: { task: ops.nope, every: 1m }\n`);
    const u = await run(['-c', unknown, 'serve'], { TRIREME_REDIS_URL: redis.url });
    assert.equal(u.code, 2, u.out);
    assert.match(u.out, /schedules\.s\.task: unknown task "ops\.nope"; known tasks: ops\.alloc, ops\.call, ops\.tick/);
  });
});
