import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, emptyMemory, type PoolSettings, type AutoscalerMemory } from '../../src/core/autoscaler.js';
import { resolveScaling, parseConfig } from '../../src/core/config.js';
import { emptyReplicas, type Observation, type ReplicaCounts } from '../../src/core/observation.js';
import { allocate } from '../../src/core/capacity.js';
import { bounds } from '../../src/core/schedule.js';

const settings = (scaling: Record<string, unknown>, concurrency = 1): PoolSettings => {
  const cfg = parseConfig({ pools: { p: { queues: ['default'], concurrency, scaling } } });
  return { ...resolveScaling(cfg.pools.p.scaling), concurrency };
};
const obs = (waiting: number, running: number, replicas: Partial<ReplicaCounts>, fresh = true): Observation => ({
  waiting, running, delayedDue: 0, arrivalRate: 0, serviceTime: 0, fresh, replicas: { ...emptyReplicas(), ...replicas },
});
const MIN = 60_000;

test('seed scenario: 5 heavy jobs at 00:00, pool at zero, max 4, cooldown 10m, idle 15m', () => {
  const s = settings({ policy: 'threshold', min: 0, max: 4, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '10m', idleShutdown: '15m', stabilization: 0 });
  let mem: AutoscalerMemory = emptyMemory();
  const step = (t: number, o: Observation) => { const d = decide('heavy', o, s, mem, t); mem = d.memory; return d; };

  const d0 = step(0, obs(5, 0, {}));
  assert.equal(d0.desired, 4);
  assert.equal(d0.reason, 'heavy: load 5 >= 1, max 4, 0 -> 4');
  assert.equal(step(20_000, obs(1, 4, { busy: 4 })).desired, 4, 'all four busy, one waiting: hold at max');
  assert.equal(step(2.5 * MIN, obs(0, 1, { busy: 1, idle: 3 })).desired, 4, 'last job running: load 1 >= 1 holds');
  assert.equal(step(4 * MIN, obs(0, 1, { busy: 1, idle: 3 })).desired, 4, 'the fifth job ends at about 4m');
  const done = step(4.5 * MIN, obs(0, 0, { idle: 4 }));
  assert.equal(done.desired, 4);
  assert.match(done.reason, /down-cooldown 5m30s left/);
  const idle = step(10 * MIN, obs(0, 0, { idle: 4 }));
  assert.equal(idle.desired, 4);
  assert.match(idle.reason, /idle 6m < 15m: hold/);
  assert.equal(step(18.9 * MIN, obs(0, 0, { idle: 4 })).desired, 4);
  const off = step(19 * MIN, obs(0, 0, { idle: 4 }));
  assert.equal(off.desired, 0);
  assert.equal(off.reason, 'heavy: idle 15m >= 15m: to min, 4 -> 0');
});

test('stale metrics never scale down', () => {
  const s = settings({ min: 0, max: 5, cooldownDown: 0, idleShutdown: 0, stabilization: 0 });
  const d = decide('p', obs(0, 0, { idle: 3 }, false), s, emptyMemory(), 1_000);
  assert.equal(d.desired, 3);
  assert.match(d.reason, /metrics stale: hold/);
});

test('above max goes to max at once: no cooldown, stabilisation window or idle timer holds it there', () => {
  const s = settings({ min: 3, max: 3, cooldownDown: '10m', idleShutdown: '15m', stabilization: '5m' });
  const up = decide('fleet', obs(0, 0, { idle: 3 }), s, emptyMemory(), 0);
  // One minute later a host that was cut off comes back with its replica: four, idle.
  const d = decide('fleet', obs(0, 1, { idle: 3, busy: 1 }), s, { ...up.memory, lastUpAt: 30_000 }, MIN);
  assert.deepEqual([d.current, d.desired, d.direction], [4, 3, 'down']);
  assert.equal(d.reason, 'fleet: 4 above max 3: to max, 4 -> 3');
  // Within its bounds the same pool holds, as its cooldown says.
  assert.equal(decide('fleet', obs(0, 0, { idle: 3 }), s, d.memory, 2 * MIN).desired, 3);
});

test('a pool at zero with work starts even inside an up-cooldown', () => {
  const s = settings({ min: 0, max: 5, cooldownUp: '10m' });
  const d = decide('p', obs(2, 0, {}), s, { ...emptyMemory(), lastDownAt: 0 }, 1_000);
  assert.equal(d.desired, 2);
});

test('up-cooldown holds a pool that already has replicas', () => {
  const s = settings({ min: 0, max: 5, cooldownUp: '1m' });
  const d = decide('p', obs(5, 1, { busy: 1 }), s, { ...emptyMemory(), lastUpAt: 0 }, 30_000);
  assert.equal(d.desired, 1);
  assert.equal(d.cooldownRemaining, 30_000);
});

test('the stabilisation window keeps the highest recent recommendation on the way down', () => {
  const s = settings({ min: 0, max: 10, cooldownDown: 0, stabilization: '1m', targetBacklogPerSlot: 1 });
  let mem = emptyMemory();
  mem = decide('p', obs(8, 0, { idle: 8 }), s, mem, 0).memory;
  const d = decide('p', obs(1, 1, { busy: 1, idle: 7 }), s, mem, 30_000);
  assert.equal(d.desired, 8);
  assert.equal(decide('p', obs(1, 1, { busy: 1, idle: 7 }), s, d.memory, 61_000).desired, 2);
});

test('startup: replicas still starting count as coming capacity, so a burst does not over-scale', () => {
  const s = settings({ min: 0, max: 10, targetBacklogPerSlot: 1 });
  const d = decide('p', obs(4, 0, { starting: 4 }), s, emptyMemory(), 0);
  assert.equal(d.desired, 4);
  assert.equal(d.direction, 'hold');
});

test('delayed jobs coming due count as load', () => {
  const s = settings({ min: 0, max: 10 });
  const d = decide('p', { ...obs(0, 0, {}), delayedDue: 2 }, s, emptyMemory(), 0);
  assert.equal(d.desired, 2);
});

test('presets fill what the pool leaves out; the pool wins', () => {
  const cons = settings({ preset: 'conservative', max: 3 });
  assert.equal(cons.policy, 'threshold');
  assert.equal(cons.cooldownDown, 600_000);
  assert.equal(settings({ preset: 'conservative', cooldownDown: '1m', max: 3 }).cooldownDown, 60_000);
  assert.equal(settings({ preset: 'cost-optimised', max: 3 }).targetBacklogPerSlot, 3);
});

test('schedules override min and max inside their window', () => {
  const windows = [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00', utcOffsetMinutes: 0, min: 2 }];
  const monday10 = Date.UTC(2026, 10, 23, 10, 0);
  const monday20 = Date.UTC(2026, 10, 23, 20, 0);
  const sunday10 = Date.UTC(2026, 10, 22, 10, 0);
  assert.equal(bounds(0, 4, windows, monday10).min, 2);
  assert.equal(bounds(0, 4, windows, monday20).min, 0);
  assert.equal(bounds(0, 4, windows, sunday10).min, 0);
  const s = settings({ min: 0, max: 4, schedules: windows });
  assert.equal(decide('p', obs(0, 0, {}), s, emptyMemory(), monday10).desired, 2);
});

test('a shared budget is split by priority: a heavy burst cannot starve the light tier', () => {
  const res = { cpu: 1, memory: 0, gpu: 0 };
  const grants = allocate([
    { pool: 'light', desired: 3, min: 2, priority: 10, resources: res },
    { pool: 'heavy', desired: 8, min: 0, priority: 1, resources: { cpu: 2, memory: 0, gpu: 0 } },
  ], [{ cpu: 9 }]);
  assert.deepEqual(grants.get('light'), { granted: 3 });
  assert.deepEqual(grants.get('heavy'), { granted: 3, limitedBy: 'cpu 9', starved: true });
});

test('idle replicas kept by a hold give their room to another pool\'s need, lowest priority first', () => {
  const res = { cpu: 1, memory: 0, gpu: 0 };
  // fast holds two idle replicas (its load needs none); slow has a job waiting; the host has two CPUs.
  const grants = allocate([
    { pool: 'fast', desired: 2, need: 0, min: 0, priority: 10, resources: res },
    { pool: 'slow', desired: 1, min: 0, priority: 0, resources: res },
  ], [{ cpu: 2 }]);
  assert.deepEqual(grants.get('slow'), { granted: 1 }, 'the need is served before a higher-priority hold');
  assert.deepEqual(grants.get('fast'), { granted: 1, limitedBy: 'cpu 2' }, 'held, not starved');
  // A need is never taken for another's need: both need, priority decides, and the loser is starved.
  const both = allocate([
    { pool: 'fast', desired: 2, need: 2, min: 0, priority: 10, resources: res },
    { pool: 'slow', desired: 1, min: 0, priority: 0, resources: res },
  ], [{ cpu: 2 }]);
  assert.deepEqual(both.get('slow'), { granted: 0, limitedBy: 'cpu 2', starved: true });
});

test('a hold reports what the load needs: an idle timer keeps 2 replicas that the load needs none of', () => {
  const s = settings({ min: 0, max: 3, idleShutdown: 300_000, cooldownDown: 0, stabilization: 0 });
  const d = decide('fast', obs(0, 0, { idle: 2 }), s, emptyMemory(), 0);
  assert.deepEqual([d.desired, d.need], [2, 0]);
  const busy = decide('fast', obs(3, 0, { idle: 2 }), s, emptyMemory(), 0);
  assert.equal(busy.need, busy.desired, 'no hold: the need is the decision');
});

test('GPU capacity: a pool asking for GPUs gets no more replicas than the GPUs allow', () => {
  const grants = allocate([{ pool: 'gpu', desired: 4, min: 0, priority: 0, resources: { cpu: 1, memory: 0, gpu: 1 } }], [{ gpu: 2 }]);
  assert.equal(grants.get('gpu')!.granted, 2);
});

test('an overridden decision (a pin or a cap) rebuilds direction and reason the way decide does', async () => {
  const { overrideDecision } = await import('../../src/core/autoscaler.js');
  const s = settings({ min: 0, max: 6 });
  const d = decide('heavy', obs(5, 0, { idle: 1 }), s, emptyMemory(), 0);
  assert.equal(d.reason, `heavy: ${d.why}, 1 -> 5`);
  const capped = overrideDecision('heavy', d, 3, `${d.why}, capped at 3 by cpu 2`);
  assert.equal(capped.direction, 'up');
  assert.equal(capped.reason, `heavy: ${d.why}, capped at 3 by cpu 2, 1 -> 3`);
  assert.equal(overrideDecision('heavy', d, 0, 'autoscaling paused, pinned at 0').direction, 'down');
  assert.equal(overrideDecision('heavy', d, 1, 'autoscaling paused').direction, 'hold');
});

test('the idle time in a reason is rounded down: 1.6 s of a 2 s idle shutdown reads "1s < 2s", not "2s < 2s"', () => {
  const s = settings({ policy: 'target', min: 0, max: 2, idleShutdown: '2s', cooldownDown: 0, stabilization: 0, keepWarm: false });
  const first = decide('p', obs(1, 0, { busy: 1 }), s, emptyMemory(), 10_000);
  assert.equal(decide('p', obs(0, 0, { idle: 1 }), s, first.memory, 11_600).why, 'idle 1s < 2s: hold');
  assert.equal(decide('p', obs(0, 0, { idle: 1 }), s, first.memory, 12_400).why, 'idle 2s >= 2s: to min');
  assert.equal(decide('p', obs(0, 0, { idle: 1 }), s, first.memory, 10_400).why, 'idle 400ms < 2s: hold');
});
