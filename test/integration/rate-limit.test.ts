/**
 * A rate limit end to end: a queue limited to 10 jobs/s, a backlog of 500 jobs of 0.25 s, a pool allowed 6 replicas.
 * BullMQ's limiter holds the rate across the replicas (within 10 % over 30 s), and the autoscaler stops at the
 * replicas the limit can use (10/s x 0.25 s = 2.5 slots: 3 replicas), saying why; status and /pools show the limit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { trireme, reapAll, run } from './procs.js';

const WINDOW_MS = 30_000;
let redis: TestRedis;
let conn: Redis;
let dir: string;
let config: string;

describe('rate limits', () => {
  before(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url);
    dir = mkdtempSync(join(tmpdir(), 'trireme-rate-'));
    config = join(dir, 'trireme.yml');
    writeFileSync(config, [
      `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/ops-tasks.ts'))}]`,
      'defaultQueue: partner',
      'controller: { interval: 1s, leaseTtl: 3s }',
      'capacity: { overcommit: 8 }',
      'api: { port: 0 }',
      'rateLimits:',
      '  partner: { jobs: 10, per: 1s }',
      'pools:',
      '  partner: { queues: [partner], concurrency: 1, drainGrace: 5s, standby: false, scaling: { policy: target, min: 0, max: 6, cooldownDown: 5m } }',
    ].join('\n'));
  });
  after(async () => {
    await reapAll();
    conn.disconnect();
    await redis.stop();
  });

  test('10 jobs/s over three replicas holds within 10 % over 30 s, and the autoscaler stops at three', async () => {
    const serve = trireme(['-c', config, 'serve', '--grace', '5s'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
    const base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 60_000, 'serve to listen');
    const starts = join(dir, 'starts.log');
    writeFileSync(join(dir, 'jobs.ndjson'), Array.from({ length: 500 }, () => JSON.stringify({ ms: 250, file: starts })).join('\n'));
    const submitted = await run(['-c', config, 'submit', 'ops.call', '--file', join(dir, 'jobs.ndjson')], { TRIREME_REDIS_URL: redis.url });
    assert.equal(submitted.code, 0, submitted.out);
    const store = new ControlStore(conn, 'trireme');
    // The service time measured, the pool goes to what the limit keeps busy: 3, not the 6 the backlog asks for.
    const d = await waitFor(async () => { const x = (await store.decisions()).partner; return x && x.desired === 3 && x.current === 3 ? x : undefined; }, 60_000, 'three replicas');
    assert.match(d.reason, /rate-limited to 10\/s: 3 replica\(s\) can keep up/);
    const from = Date.now() + 1_000;
    // 30 s of starts, measured from the replicas' own clocks (the task notes when it starts).
    await waitFor(() => Date.now() > from + WINDOW_MS + 500, WINDOW_MS + 10_000, 'the window to pass');
    const times = readFileSync(starts, 'utf8').trim().split('\n').map(Number);
    const inWindow = times.filter((t) => t >= from && t < from + WINDOW_MS).length;
    const rate = inWindow / (WINDOW_MS / 1000);
    console.log(`# ${inWindow} jobs started in ${WINDOW_MS / 1000} s: ${rate.toFixed(2)}/s against a limit of 10/s`);
    assert.ok(rate >= 9 && rate <= 11, `${rate}/s is not within 10 % of 10/s`);
    // Never more than the limit can use, and the backlog is still there: more replicas would only have waited.
    const events = await store.events(100);
    assert.equal(Math.max(...events.filter((e) => e.pool === 'partner').map((e) => e.to)), 3, JSON.stringify(events));
    const pools = await (await fetch(`${base}/pools`)).json() as { pools: { name: string; replicas: { current: number }; depths: { waiting: number }; rateLimits: Record<string, unknown> }[] };
    const p = pools.pools[0];
    assert.ok(p.depths.waiting > 100, `a backlog remains (${p.depths.waiting})`);
    assert.deepEqual(p.rateLimits, { partner: { jobs: 10, perMs: 1000, perSecond: 10, text: '10 per 1s' } });
    const status = await run(['-c', config, 'status'], { TRIREME_REDIS_URL: redis.url });
    assert.match(status.out, /^rate limits: partner \(partner\) 10 per 1s$/m);
    assert.match(status.out, /rate-limited to 10\/s: 3 replica\(s\) can keep up/);
    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
  });
});
