/**
 * The oldest-wait reading (signals/bullmq.ts) against a real Redis and jobs put there by BullMQ itself: the head of
 * the wait list, the oldest job of each priority band (not the next to run), a delayed job past due (in the delayed
 * set, then promoted, when BullMQ zeroes its `delay` field), and a retry, which counts from its last attempt.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedis, waitFor, type TestRedis } from '../helpers.js';
import { oldestWait, queueDepths } from '../../src/signals/bullmq.js';
import { Keyspace } from '../../src/redis/keyspace.js';

let redis: TestRedis;
let conn: Redis;
const prefix = 'ow';
const queues: Queue[] = [];
const queue = (name: string) => { const q = new Queue(name, { connection: { url: redis.url }, prefix }); queues.push(q); return q; };
const since = async (name: string, now = Date.now()) => (await queueDepths(conn, new Keyspace(prefix, false), [name], now, 0))[0].oldestWaitingSince;

before(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url);
});
after(async () => {
  await Promise.all(queues.map((q) => q.close()));
  conn?.disconnect();
  await redis?.stop();
});

test('the wait list: the job at its head (the longest waiting), read whatever the depth', async () => {
  const q = queue('fifo');
  const t0 = Date.now() - 60_000;
  await q.addBulk(Array.from({ length: 500 }, (_, i) => ({ name: 'x', data: {}, opts: { timestamp: t0 + i * 10 } })));
  assert.equal(await since('fifo'), t0);
  assert.equal(await since('empty-queue'), undefined, 'nothing waits');
  const [d] = await queueDepths(conn, new Keyspace(prefix, false), ['fifo'], t0 + 90_000, 0);
  assert.equal(oldestWait([d], t0 + 90_000), 90_000);
});

test('prioritized jobs: the oldest of every band, not the next to run', async () => {
  const q = queue('prio');
  const now = Date.now();
  // The next to run is the priority-1 job submitted 5 s ago; a priority-7 job has waited 2 minutes behind it.
  await q.add('x', {}, { priority: 7, timestamp: now - 120_000 });
  await q.add('x', {}, { priority: 7, timestamp: now - 30_000 });
  await q.add('x', {}, { priority: 1, timestamp: now - 5_000 });
  await q.add('x', {}, { priority: 3, timestamp: now - 50_000 });
  assert.equal(await since('prio'), now - 120_000);
});

test('a delayed job past due counts from its due time, in the delayed set and once promoted', async () => {
  const q = queue('delayed');
  const submitted = Date.now() - 100_000;
  // Added 100 s ago with a 40 s delay: due 60 s ago. No worker runs, so BullMQ leaves it in the delayed set.
  const job = await q.add('x', {}, { delay: 40_000, timestamp: submitted });
  assert.equal(await since('delayed'), submitted + 40_000);
  // Not yet due: not waiting.
  await queue('later').add('x', {}, { delay: 600_000 });
  assert.equal(await since('later'), undefined);
  // Promoted into the wait list, BullMQ sets its `delay` field to 0: the delay it was added with still counts.
  await job.promote();
  assert.equal(await conn.hget(`${prefix}:delayed:${job.id}`, 'delay'), '0');
  assert.equal(await conn.llen(`${prefix}:delayed:wait`), 1);
  assert.equal(await since('delayed'), submitted + 40_000);
});

test('a retry counts from the start of its last attempt, not from its first submit', async () => {
  const q = queue('retry');
  const submitted = Date.now() - 300_000;
  const job = await q.add('x', {}, { attempts: 2, backoff: { type: 'fixed', delay: 3_600_000 }, timestamp: submitted });
  let started = 0;
  const worker = new Worker('retry', async () => { started = Date.now(); throw new Error('once'); }, { connection: { url: redis.url }, prefix, autorun: true });
  await waitFor(async () => (await q.getDelayedCount()) === 1, 10_000, 'the failed attempt to wait for its backoff');
  await worker.close();
  assert.ok(started > 0);
  await (await q.getJob(job.id!))!.promote();
  const read = await since('retry');
  const processedOn = Number(await conn.hget(`${prefix}:retry:${job.id}`, 'processedOn'));
  assert.equal(read, processedOn);
  assert.ok(read! >= started - 1_000 && read! > submitted, 'from the last attempt');
});
