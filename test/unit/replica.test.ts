/**
 * A replica's own rules in virtual time, with in-memory parts (test/memory.ts): a drain lets running jobs finish
 * within the grace and hands new ones back; past the grace, running jobs are handed back, never failed; heartbeats
 * carry the tallies and bring drain requests; a held drain waits to be removed; in-process recycling; the slot gate;
 * cancel. The integration tests (worker.test.ts, lifecycle.test.ts) run the same rules on BullMQ and Redis.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { defineTask } from '../../src/core/task.js';
import type { Project, TaskEntry } from '../../src/core/project.js';
import { PoolWorker, type DrainReason } from '../../src/replica/pool-worker.js';
import type { ReplicaParts } from '../../src/replica/parts.js';
import { MemoryCancels, MemoryHeartbeats, MemoryJobSource } from '../memory.js';

/** A promise the test settles: a task that runs until the test says it is done. */
function deferred() {
  let resolve!: (v?: unknown) => void;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

/** Lets every promise that can settle now do so (no time passes on any clock). */
const settle = () => new Promise((r) => setImmediate(r));

function setup(pool: Record<string, unknown> = {}, heartbeatMs = 1_000) {
  const config = parseConfig({ defaultQueue: 'q', pools: { p: { queues: ['q'], concurrency: 2, drainGrace: '10s', ...pool } } });
  const gates = new Map<string, ReturnType<typeof deferred>>();
  const signals = new Map<string, AbortSignal>();
  const block = defineTask('block', async (data: { gate: string }, ctx) => {
    signals.set(data.gate, ctx.signal);
    const d = deferred();
    gates.set(data.gate, d);
    await d.promise;
    return data.gate;
  });
  const quick = defineTask('quick', async () => 'ok');
  const tasks = new Map<string, TaskEntry>([block, quick].map((definition) => [definition.name, { kind: 'function', name: definition.name, definition, module: 'test' }]));
  const project: Project = { config, router: new Router(config.routes, config.defaultQueue, config.pools), tasks, baseDir: process.cwd(), tasksLoaded: true };
  const clock = new ManualClock(1_000_000);
  const source = new MemoryJobSource();
  const heartbeats = new MemoryHeartbeats(clock);
  const cancels = new MemoryCancels();
  let closed = false;
  const parts: ReplicaParts = { clock, source, heartbeats, cancels, connected: () => true, close: async () => { closed = true; } };
  const worker = new PoolWorker({ project, pool: 'p', parts, id: 'p-1', heartbeatMs });
  const drained: DrainReason[] = [];
  worker.on('drained', (r: DrainReason) => drained.push(r));
  const finish = (gate: string) => gates.get(gate)!.resolve();
  return { worker, clock, source, heartbeats, cancels, drained, finish, signals, isClosed: () => closed };
}

test('a drain takes no new job, lets the running one finish within its grace, then leaves the registry', async () => {
  const { worker, source, heartbeats, drained, finish, isClosed } = setup();
  await worker.start();
  const a = source.deliver('q', 'block', { gate: 'a' });
  await settle();
  assert.equal(worker.state, 'busy');
  const drain = worker.drain(10_000);
  await settle();
  assert.equal(worker.state, 'draining');
  assert.equal(source.state, 'paused', 'the source takes no new job');
  assert.deepEqual(await source.deliver('q', 'quick').done, { outcome: 'handed-back', error: 'draining' }, 'one fetched meanwhile goes back');
  assert.deepEqual(drained, [], 'still running a job');
  finish('a');
  assert.deepEqual(await a.done, { outcome: 'completed', value: 'a' });
  await drain;
  assert.deepEqual(drained, ['requested']);
  assert.deepEqual(heartbeats.removed, ['p-1']);
  assert.equal(source.state, 'closed');
  assert.ok(isClosed());
});

test('past the grace a running job is handed back to its queue, not failed, and not counted as done', async () => {
  const { worker, clock, source, heartbeats, drained, signals } = setup();
  await worker.start();
  const a = source.deliver('q', 'block', { gate: 'a' });
  await settle();
  const drain = worker.drain(10_000);
  await settle();
  clock.advance(9_999);
  await settle();
  assert.equal(signals.get('a')!.aborted, false, 'within the grace the job runs on');
  clock.advance(1);
  assert.deepEqual(await a.done, { outcome: 'handed-back', error: 'drain grace over' });
  assert.equal(signals.get('a')!.aborted, true, 'the task heard it');
  await drain;
  assert.deepEqual(drained, ['requested']);
  const counted = heartbeats.beats.flatMap((b) => [...b.tallies.values()]).reduce((n, t) => n + t.completed + t.failed, 0);
  assert.equal(counted, 0, 'a handed-back job is neither completed nor failed');
});

test('heartbeats go every heartbeatMs with what was counted since the last; a drain request from the registry drains', async () => {
  const { worker, clock, source, heartbeats, drained } = setup({}, 1_000);
  await worker.start();
  assert.equal(heartbeats.beats.length, 1, 'one on start');
  for (let i = 0; i < 3; i++) await source.deliver('q', 'quick').done;
  clock.advance(999);
  assert.equal(heartbeats.beats.length, 1);
  clock.advance(1);
  await settle();
  assert.equal(heartbeats.beats.length, 2);
  assert.equal(heartbeats.beats[1].tallies.get('q')!.completed, 3);
  assert.equal(heartbeats.beats[1].info.jobsDone, 3);
  clock.advance(1_000);
  await settle();
  assert.equal(heartbeats.beats[2].tallies.size, 0, 'counted once');
  heartbeats.control = 'drain';
  clock.advance(1_000);
  await settle();
  await settle();
  assert.deepEqual(drained, ['requested']);
});

test('a held drain waits to be removed: until a plain drain (the engine\'s SIGTERM), or HOLD_MS at most', async () => {
  const { worker, clock, heartbeats, drained } = setup();
  await worker.start();
  heartbeats.control = 'drain:hold';
  clock.advance(1_000);
  await settle();
  await settle();
  assert.equal(worker.state, 'draining');
  clock.advance(60_000);
  await settle();
  assert.deepEqual(drained, [], 'held: still there');
  assert.ok(heartbeats.beats.at(-1)!.info.state === 'draining', 'still heartbeating as draining');
  const done = worker.drain(10_000);
  await done;
  assert.deepEqual(drained, ['requested'], 'a plain drain releases it');

  const other = setup();
  await other.worker.start();
  other.heartbeats.control = 'drain:hold';
  other.clock.advance(1_000);
  await settle();
  await settle();
  other.clock.advance(119_000);
  await settle();
  assert.deepEqual(other.drained, []);
  other.clock.advance(1_000);
  await settle();
  await settle();
  assert.deepEqual(other.drained, ['requested'], 'HOLD_MS passed: it leaves by itself');
});

test('in-process, maxTasksPerChild recycles the replica after that many jobs, draining first', async () => {
  const { worker, source, drained } = setup({ maxTasksPerChild: 3 });
  await worker.start();
  await source.deliver('q', 'quick').done;
  await source.deliver('q', 'quick').done;
  assert.deepEqual(drained, []);
  await source.deliver('q', 'quick').done;
  await settle();
  await settle();
  assert.deepEqual(drained, ['recycle']);
  assert.equal(worker.drainReason, 'recycle');
});

test('a job beyond the pool\'s concurrency is bounced back; a cancel fails a running job for good', async () => {
  const { worker, source, cancels, finish } = setup({ concurrency: 1 });
  await worker.start();
  const a = source.deliver('q', 'block', { gate: 'a' });
  await settle();
  assert.equal((await source.deliver('q', 'quick').done).outcome, 'bounced');
  cancels.cancel(a.id);
  assert.deepEqual(await a.done, { outcome: 'unrecoverable', error: 'cancelled' });
  finish('a');
  assert.equal((await source.deliver('q', 'quick').done).outcome, 'completed', 'its slot is free again');
});

test('stop now hands a running job back at once, without waiting out the grace', async () => {
  const { worker, source, drained } = setup();
  await worker.start();
  const a = source.deliver('q', 'block', { gate: 'a' });
  await settle();
  void worker.drain(600_000);
  await settle();
  await worker.handBackNow();
  assert.deepEqual(await a.done, { outcome: 'handed-back', error: 'stopping now' });
  assert.deepEqual(drained, ['requested']);
});

test('a task the replica does not know, or a payload its schema refuses, fails for good', async () => {
  const { worker, source } = setup();
  await worker.start();
  const unknown = await source.deliver('q', 'nope').done;
  assert.equal(unknown.outcome, 'unrecoverable');
  assert.match((unknown as { error: string }).error, /does not know task "nope"/);
});
