/**
 * The controller end to end in virtual time, with in-memory state and drivers: the on-submit wake, the two-step
 * scale-in of set-count drivers carried out through the driver, writes that fail, starvation, and what a new leader
 * learns. The rules themselves (pins, pauses, capacity, victims, ...) are table tests of the planning pass
 * (plan.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { Controller } from '../../src/control/controller.js';
import { buildProject } from '../../src/project/project.js';
import { MemoryDriver, MemoryState } from '../memory.js';

const scaling = { policy: 'target', min: 0, max: 3, targetBacklogPerSlot: 1, cooldownDown: 0, stabilization: 0, idleShutdown: 0 };

/**
 * A controller on a 2-CPU host: pools a (local driver) and b (a remote set-count driver), or the `pools` given, all
 * on the local driver.
 */
async function setup(opts: { remote?: 'set-count' | 'stop-replicas'; pools?: Record<string, { queues: string[] } & Record<string, unknown>> } = {}) {
  const pools = opts.pools ?? { a: { queues: ['a'], scaling }, b: { queues: ['b'], scaling } };
  const project = await buildProject({
    defaultQueue: Object.values(pools)[0].queues[0], controller: { interval: 1000 }, pools,
  }, { baseDir: process.cwd(), tasks: false });
  const clock = new ManualClock(1_000_000);
  const state = new MemoryState();
  const local = new MemoryDriver('local', 'stop-replicas', state);
  const remote = new MemoryDriver('kubernetes', opts.remote ?? 'set-count', state);
  const dropped: string[] = [];
  const controller = new Controller({
    project, state, clock, id: 'c1', drivers: opts.pools ? Object.fromEntries(Object.keys(pools).map((n) => [n, local.driver])) : { a: local.driver, b: remote.driver },
    host: { cpu: 2, memory: 64 * 1024 ** 3, gpu: 0 }, onDroppedWrite: (what, pool) => dropped.push(`${what}:${pool}`),
  });
  return { controller, state, clock, local, remote, dropped };
}

const last = (state: MemoryState, pool: string) => state.saved.at(-1)!.find((d) => d.pool === pool);

test('a submit to a pool with no live replica acts at once, for that pool alone; to a live pool it does nothing', async () => {
  const { controller, state, local, remote } = await setup();
  await controller.start();
  assert.deepEqual(local.starts, []);
  state.loads.set('a', { waiting: 2, running: 0, delayedDue: 0 });
  state.loads.set('b', { waiting: 5, running: 0, delayedDue: 0 });
  state.submitted('a');
  await controller.settled();
  assert.deepEqual(local.starts, [{ pool: 'a', count: 2 }]);
  assert.deepEqual(remote.starts, [], 'the wake acted on pool a only');
  assert.deepEqual(state.saved.at(-1)!.map((d) => d.pool), ['a'], 'and recorded a decision for a only');
  const passes = state.saved.length;
  state.submitted('a');
  await controller.settled();
  assert.equal(state.saved.length, passes, 'a pool with live replicas is not woken again');
  await controller.stop();
});

test('a submit just after the pass that stopped the pool\'s last replica wakes it at once, not a loop later', async () => {
  const { controller, state, local } = await setup();
  await local.start('a', 1);
  state.register({ id: 'a-1', pool: 'a', state: 'idle', lastActivity: 0 });
  await controller.start();
  assert.deepEqual(local.stops, ['a-1'], 'idle past its idle shutdown: stopped');
  state.registry.delete('a-1');
  const passes = state.saved.length;
  state.loads.set('a', { waiting: 1, running: 0, delayedDue: 0 });
  state.submitted('a');
  await controller.settled();
  assert.equal(state.saved.length, passes + 1, 'the wake made a pass: the last one left no live replica');
  assert.deepEqual(local.starts, [{ pool: 'a', count: 1 }, { pool: 'a', count: 1 }], 'and started one');
  await controller.stop();
});

test('a driver that fails holds its own pool and says so; the pass goes on for the others', async () => {
  const { controller, state, local, remote } = await setup();
  local.failStarts = 'spawn EAGAIN';
  state.loads.set('a', { waiting: 1, running: 0, delayedDue: 0 });
  state.loads.set('b', { waiting: 1, running: 0, delayedDue: 0 });
  await controller.tick();
  assert.match(last(state, 'a')!.reason, /not carried out: spawn EAGAIN, 0 -> 0$/);
  assert.deepEqual(remote.starts, [{ pool: 'b', count: 1 }]);
  await controller.stop();
});

test('a set-count driver: the victims drain (held) first, then the count is lowered naming them and the busy ones', async () => {
  const { controller, state, clock, remote } = await setup({ remote: 'set-count' });
  await remote.start('b', 3);
  state.register({ id: 'b-1', pool: 'b', state: 'idle', lastActivity: 100 });
  state.register({ id: 'b-2', pool: 'b', state: 'busy', running: 1 });
  state.register({ id: 'b-3', pool: 'b', state: 'idle', lastActivity: 200 });
  state.loads.set('b', { waiting: 0, running: 1, delayedDue: 0 });
  await controller.tick(['b']);
  assert.deepEqual(state.drains, [{ id: 'b-1', hold: true }, { id: 'b-3', hold: true }]);
  assert.equal(remote.counts.length, 0, 'the count waits until the victims take no more jobs');
  assert.match(last(state, 'b')!.reason, /draining 2 replica\(s\) before 3 -> 1/);
  clock.advance(1_000);
  await controller.tick(['b']);
  assert.equal(remote.counts.length, 0, 'still serving: still waiting');
  for (const id of ['b-1', 'b-3']) state.register({ ...state.registry.get(id)!, state: 'draining' });
  clock.advance(1_000);
  await controller.tick(['b']);
  assert.equal(remote.counts.length, 1);
  const [{ count, scaleIn }] = remote.counts;
  assert.equal(count, 1);
  assert.deepEqual(scaleIn.victims.map((v) => v.id), ['b-1', 'b-3']);
  assert.deepEqual(scaleIn.busy.map((v) => v.id), ['b-2']);
  assert.deepEqual([state.events.at(-1)!.from, state.events.at(-1)!.to], [3, 1]);
  await controller.stop();
});

test('a replica registered as <id>@<host> (a Celery node name) is its driver\'s; a stop first quiesces it by that name', async () => {
  const { controller, state, local } = await setup({ pools: { shap: { queues: ['shap'], scaling } } });
  await local.start('shap', 2);
  state.register({ id: 'shap-1@shap-1', pool: 'shap', state: 'idle', lastActivity: 100 });
  state.register({ id: 'shap-2@shap-2', pool: 'shap', state: 'busy', running: 1 });
  state.loads.set('shap', { waiting: 0, running: 1, delayedDue: 0 });
  const order: string[] = [];
  (state.replicas as { quiesce?: (id: string) => Promise<void> }).quiesce = async (id) => { order.push(`quiesce ${id}`); };
  const stop = local.stop.bind(local);
  local.stop = async (id: string) => { order.push(`stop ${id}`); await stop(id); };
  await controller.tick(['shap']);
  // Two replicas, not two listed and two more outside: the busy one stays, the idle one stops taking work, then stops.
  assert.equal(last(state, 'shap')!.current, 2);
  assert.deepEqual(order, ['quiesce shap-1@shap-1', 'stop shap-1']);
  await controller.stop();
});

test('a scale event or decisions that cannot be written are counted and the pass goes on', async () => {
  const { controller, state, local, dropped } = await setup();
  state.failWrites = true;
  state.loads.set('a', { waiting: 1, running: 0, delayedDue: 0 });
  await controller.tick(['a']);
  assert.deepEqual(local.starts, [{ pool: 'a', count: 1 }], 'the replica started all the same');
  assert.deepEqual(dropped, ['event:a', 'learned:a', 'decisions:a']);
  await controller.stop();
});

test('starvation: a pool with a job waiting gets the room of another pool\'s idle replicas within one loop', async () => {
  // The case: two pools on a 2-core host, cpu 1 a replica; fast holds both cores with idle replicas inside
  // its 5-minute idle timer while a job for slow waits.
  const idleFor5m = { ...scaling, idleShutdown: 300_000 };
  const { controller, state, local } = await setup({ pools: { fast: { queues: ['fast'], priority: 10, scaling: idleFor5m }, slow: { queues: ['slow'], scaling } } });
  await local.start('fast', 2);
  state.register({ id: 'fast-1', pool: 'fast', state: 'idle', lastActivity: 900_000 });
  state.register({ id: 'fast-2', pool: 'fast', state: 'idle', lastActivity: 950_000 });
  await controller.tick();
  assert.deepEqual(local.starts.slice(1), [], 'nothing to do yet: fast is idle within its timer, slow has no work');
  state.loads.set('slow', { waiting: 1, running: 0, delayedDue: 0 });
  await controller.tick();
  assert.deepEqual(local.stops, ['fast-1'], 'one idle replica of fast gave its core back (the longest idle)');
  assert.deepEqual(local.starts.at(-1), { pool: 'slow', count: 1 });
  assert.match(last(state, 'fast')!.reason, /idle .* < 5m: hold, capped at 1 by cpu 2, 2 -> 1$/);
  assert.doesNotMatch(last(state, 'slow')!.reason, /capacity-starved/);
  assert.equal(last(state, 'fast')!.starved, undefined, 'held back, not starved: its load needs none');
  // Both cores now needed by work: the lower-priority pool is starved and says so.
  state.loads.set('fast', { waiting: 4, running: 0, delayedDue: 0 });
  state.loads.set('slow', { waiting: 4, running: 0, delayedDue: 0 });
  await controller.tick();
  assert.match(last(state, 'slow')!.reason, /capacity-starved: capped at \d by cpu 2/);
  assert.equal(last(state, 'slow')!.starved, true, 'flagged for status, the API, the dashboard and doctor');
  await controller.stop();
});

test('a new leader goes on from what the last one learned: keep-warm\'s idle gaps survive a failover', async () => {
  // Pool a at min 0 with a burst every 3 minutes: after enough gaps keep-warm decides its idle spells.
  const keepWarm = { ...scaling, idleShutdown: 60_000, startupTime: 5_000 };
  const pools = { a: { queues: ['a'], scaling: keepWarm } };
  const first = await setup({ pools });
  const { state, clock } = first;
  const burst = async (c: Controller) => {
    state.loads.set('a', { waiting: 1, running: 0, delayedDue: 0 });
    await c.tick();
    clock.advance(10_000);
    state.loads.set('a', { waiting: 0, running: 0, delayedDue: 0 });
    for (let t = 0; t < 170; t += 10) { await c.tick(); clock.advance(10_000); }
  };
  for (let i = 0; i < 10; i++) await burst(first.controller);
  assert.match(last(state, 'a')!.reason, /keep-warm/, 'the first leader learned the pattern');
  const gaps = (state.learnedMap.a as { idle: { gaps: number[] } }).idle.gaps;
  assert.ok(gaps.length >= 8, `gaps kept in the shared state: ${gaps.length}`);
  await first.controller.stop();

  // A second controller on the same state (another serve taking the lease) and a third that reads nothing learned.
  const project = await buildProject({ defaultQueue: 'a', controller: { interval: 1000 }, pools }, { baseDir: process.cwd(), tasks: false });
  const local = new MemoryDriver('local', 'stop-replicas', state);
  const next = new Controller({ project, state, clock, id: 'c2', drivers: { a: local.driver }, host: { cpu: 2, memory: 64 * 1024 ** 3, gpu: 0 } });
  await burst(next);
  assert.match(last(state, 'a')!.reason, /keep-warm: .*idle gaps/, 'the new leader decided from the learned gaps at once');
  await next.stop();

  const blank = new MemoryState();
  const fresh = new Controller({ project, state: blank, clock, id: 'c3', drivers: { a: new MemoryDriver('local', 'stop-replicas', blank).driver }, host: { cpu: 2, memory: 64 * 1024 ** 3, gpu: 0 } });
  blank.loads = state.loads;
  await burst(fresh);
  assert.doesNotMatch(blank.saved.at(-1)!.find((d) => d.pool === 'a')!.reason, /keep-warm/, 'without them it would have started learning again');
  await fresh.stop();
});

test('learned memory read back from storage is checked field by field', async () => {
  const { withLearned, emptyMemory } = await import('../../src/core/autoscaler.js');
  const m = withLearned(emptyMemory(), { idle: { gaps: [1, 'x'] }, flaps: [5, 6], lastDownAt: 'soon' });
  assert.deepEqual(m.idle, { gaps: [] }, 'gaps with a non-number are dropped');
  assert.deepEqual(m.flaps, [5, 6]);
  assert.equal(m.lastDownAt, undefined);
  assert.deepEqual(withLearned(emptyMemory(), 'garbage'), emptyMemory());
  assert.equal(withLearned(emptyMemory(), { idle: { gaps: Array.from({ length: 50 }, (_, i) => i) } }).idle!.gaps.length, 30, 'at most the window');
});
