/**
 * The planning pass as table tests, the way the Kubernetes HPA tests its replica calculator: each case gives the
 * pools' specs, what was observed (and any memory carried from earlier passes), and expects the decision's reason and
 * count and the action that carries it out. No controller, no driver, no clock: what serve and the simulator share.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, Planner, emptyPoolMemory, DRAIN_WAIT_MS, type Action, type PassInput, type PlanReplica, type PoolMemory, type PoolObservation, type PoolSpec } from '../../src/core/plan.js';
import { resolveScaling } from '../../src/core/config.js';
import type { Limits } from '../../src/core/capacity.js';
import type { Override } from '../../src/core/records.js';

const NOW = 1_000_000;
const scaling = resolveScaling({ policy: 'target', min: 0, max: 3, scaleUpThreshold: 1, scaleDownThreshold: 0, targetBacklogPerSlot: 1, cooldownDown: 0, stabilization: 0, idleShutdown: 0, startupTime: 5_000, hpaTarget: 5, schedules: [] });
const spec = (over: Partial<PoolSpec> = {}): PoolSpec => ({
  settings: { ...scaling, concurrency: 1 }, priority: 0, resources: { cpu: 1, memory: 1024, gpu: 0 }, drainGrace: 30_000,
  scaleIn: 'stop-replicas', onHost: true, ...over,
});
const idle = (id: string, lastActivity = 0): PlanReplica => ({ id, state: 'idle', registered: true, lastActivity });
const busy = (id: string): PlanReplica => ({ id, state: 'busy', registered: true, lastActivity: NOW });
const starting = (id: string): PlanReplica => ({ id, state: 'starting', registered: false });
const pool = (name: string, o: Partial<PoolObservation> = {}): PoolObservation => ({
  pool: name, load: { waiting: 0, running: 0, delayedDue: 0 }, counters: { submitted: 0, completed: 0, failed: 0, serviceMs: 0 }, replicas: [], external: [], ...o,
});

/** An action as a case expects it: its scale event is checked by the reason. */
type ActionWithoutEvent = Action extends infer A ? (A extends Action ? Omit<A, 'event'> : never) : never;

interface Case {
  name: string;
  specs?: Record<string, PoolSpec>;
  pools: PoolObservation[];
  overrides?: Record<string, Override> | null;
  only?: string[];
  limits?: Limits[];
  memory?: Record<string, PoolMemory>;
  /** Per acting pool: the decision's reason (a regexp) and the action, or none. */
  expect: Record<string, { reason: RegExp; desired: number; action?: ActionWithoutEvent | null; starved?: boolean }>;
}

const cases: Case[] = [
  {
    name: 'work waiting on a pool at zero: start what the load needs',
    pools: [pool('a', { load: { waiting: 2, running: 0, delayedDue: 0 } })],
    expect: { a: { reason: /^a: load 2 at 1\/slot -> 2, 0 -> 2$/, desired: 2, action: { type: 'start', pool: 'a', count: 2 } } },
  },
  {
    name: 'a wake\'s pass acts on the woken pool only; the others are not in the plan',
    pools: [pool('a', { load: { waiting: 2, running: 0, delayedDue: 0 } }), pool('b', { load: { waiting: 5, running: 0, delayedDue: 0 } })],
    only: ['a'],
    expect: { a: { reason: /0 -> 2$/, desired: 2, action: { type: 'start', pool: 'a', count: 2 } } },
  },
  {
    name: 'a pin is honoured, a pin above max is held at max and says so',
    pools: [pool('a'), pool('b')],
    overrides: { a: { paused: true, replicas: 2, at: 0 }, b: { paused: true, replicas: 1e9, at: 0 } },
    expect: {
      a: { reason: /^a: autoscaling paused, pinned at 2, 0 -> 2$/, desired: 2, action: { type: 'start', pool: 'a', count: 2 } },
      b: { reason: /pinned at 1000000000 above max 3: held at 3, 0 -> 3$/, desired: 3, action: { type: 'start', pool: 'b', count: 3 } },
    },
  },
  {
    name: 'paused without a pin: the pool keeps its replicas, idle or not',
    pools: [pool('a', { replicas: [idle('a-1'), idle('a-2')] })],
    overrides: { a: { paused: true, at: 0 } },
    expect: { a: { reason: /autoscaling paused, 2 -> 2$/, desired: 2, action: null } },
  },
  {
    name: 'unreadable overrides hold every pool, as stale metrics do',
    pools: [pool('a', { replicas: [idle('a-1')] }), pool('b', { load: { waiting: 3, running: 0, delayedDue: 0 } })],
    overrides: null,
    expect: { a: { reason: /overrides unreadable: hold, 1 -> 1$/, desired: 1, action: null }, b: { reason: /overrides unreadable: hold, 0 -> 0$/, desired: 0, action: null } },
  },
  {
    name: 'an unreadable queue or replica list holds the pool (metrics stale), never shrinks it',
    pools: [pool('a', { load: undefined, replicas: [idle('a-1')] }), pool('b', { replicas: [idle('b-1')], external: undefined })],
    expect: { a: { reason: /metrics stale: hold, 1 -> 1$/, desired: 1, action: null }, b: { reason: /metrics stale: hold, 1 -> 1$/, desired: 1, action: null } },
  },
  {
    name: 'host capacity caps the pools on this host only; a pool elsewhere is not counted against it',
    specs: { a: spec(), b: spec({ onHost: false, scaleIn: 'set-count' }) },
    limits: [{ scope: 'host', cpu: 2 }],
    pools: [pool('a', { load: { waiting: 3, running: 0, delayedDue: 0 } }), pool('b', { load: { waiting: 3, running: 0, delayedDue: 0 } })],
    expect: {
      a: { reason: /capacity-starved: capped at 2 by cpu 2, 0 -> 2$/, desired: 2, starved: true, action: { type: 'start', pool: 'a', count: 2 } },
      b: { reason: /0 -> 3$/, desired: 3, action: { type: 'start', pool: 'b', count: 3 } },
    },
  },
  {
    name: 'scale-down takes idle replicas first (the longest idle first), then starting ones, never a busy one',
    pools: [pool('a', { load: { waiting: 0, running: 1, delayedDue: 0 }, replicas: [idle('a-1', 500), busy('a-2'), idle('a-3', 100), starting('a-4')] })],
    expect: { a: { reason: /4 -> 1$/, desired: 1, action: { type: 'stop', pool: 'a', replicas: ['a-3', 'a-1', 'a-4'], graceMs: 30_000 } } },
  },
  {
    name: 'fewer idle replicas than the decision would take: the busy ones stay, and the decision says so',
    pools: [pool('a', { replicas: [idle('a-1'), busy('a-2'), busy('a-3')], load: { waiting: 0, running: 0, delayedDue: 0 } })],
    expect: { a: { reason: /to min; 2 busy replica\(s\) kept, 3 -> 2$/, desired: 2, action: { type: 'stop', pool: 'a', replicas: ['a-1'], graceMs: 30_000 } } },
  },
  {
    name: 'every replica busy: hold',
    pools: [pool('a', { replicas: [busy('a-1')] })],
    expect: { a: { reason: /every replica is busy: hold, 1 -> 1$/, desired: 1, action: null } },
  },
  {
    name: 'a pin below the count drains busy replicas too (a manual override), within the grace',
    pools: [pool('a', { load: { waiting: 0, running: 2, delayedDue: 0 }, replicas: [busy('a-1'), busy('a-2')] })],
    overrides: { a: { paused: true, replicas: 1, at: 0 } },
    expect: { a: { reason: /pinned at 1, 2 -> 1$/, desired: 1, action: { type: 'stop', pool: 'a', replicas: ['a-1'], graceMs: 30_000 } } },
  },
  {
    name: 'a set-count driver: the idle victims drain first and the count waits',
    specs: { b: spec({ scaleIn: 'set-count', onHost: false }) },
    pools: [pool('b', { load: { waiting: 0, running: 1, delayedDue: 0 }, replicas: [idle('b-1', 100), busy('b-2'), idle('b-3', 200)] })],
    expect: { b: { reason: /draining 2 replica\(s\) before 3 -> 1, 3 -> 3$/, desired: 3, action: { type: 'drain', pool: 'b', replicas: ['b-1', 'b-3'] } } },
  },
  {
    name: 'replicas started elsewhere count as capacity: the pool is not shrunk below them and needs no more',
    pools: [pool('a', { load: { waiting: 0, running: 1, delayedDue: 0 }, external: ['busy'] })],
    expect: { a: { reason: /1 -> 1$/, desired: 1, action: null } },
  },
  {
    name: 'a baseline\'s step bounds a change to one replica a pass',
    specs: { a: spec({ maxStep: 1 }) },
    pools: [pool('a', { load: { waiting: 3, running: 0, delayedDue: 0 } })],
    expect: { a: { reason: /0 -> 1$/, desired: 1, action: { type: 'start', pool: 'a', count: 1 } } },
  },
  {
    name: 'the budget is shared by priority: the higher-priority pool gets its need first',
    specs: { hi: spec({ priority: 10, onHost: false }), lo: spec({ onHost: false }) },
    limits: [{ replicas: 3 }],
    pools: [pool('hi', { load: { waiting: 2, running: 0, delayedDue: 0 } }), pool('lo', { load: { waiting: 2, running: 0, delayedDue: 0 } })],
    expect: {
      hi: { reason: /0 -> 2$/, desired: 2, action: { type: 'start', pool: 'hi', count: 2 } },
      lo: { reason: /capacity-starved: capped at 1 by replicas budget 3, 0 -> 1$/, desired: 1, starved: true, action: { type: 'start', pool: 'lo', count: 1 } },
    },
  },
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const specs = c.specs ?? Object.fromEntries(c.pools.map((p) => [p.pool, spec()]));
    const input: PassInput = { now: NOW, pools: c.pools, overrides: c.overrides === null ? undefined : (c.overrides ?? {}), only: c.only };
    const out = plan(specs, c.limits ?? [], c.memory ?? {}, input);
    assert.deepEqual(out.plans.map((p) => p.pool), Object.keys(c.expect), 'the pools the pass acted on');
    for (const p of out.plans) {
      const want = c.expect[p.pool];
      assert.match(p.decision.reason, want.reason);
      assert.equal(p.decision.desired, want.desired, p.decision.reason);
      assert.equal(p.starved, want.starved ?? false, `starved: ${p.decision.reason}`);
      if (want.action === null || want.action === undefined) assert.equal(p.action, undefined, p.decision.reason);
      else assert.deepEqual({ ...p.action, event: undefined }, { ...want.action, event: undefined });
    }
  });
}

test('plan: a set-count scale-in lowers the count once its victims drained (or after DRAIN_WAIT_MS), naming victims and busy replicas', () => {
  const specs = { b: spec({ scaleIn: 'set-count', onHost: false }) };
  const replicas = [idle('b-1', 100), busy('b-2'), idle('b-3', 200)];
  const observe = (rs: PlanReplica[]): PassInput => ({ now: NOW, pools: [pool('b', { load: { waiting: 0, running: 1, delayedDue: 0 }, replicas: rs })], overrides: {} });
  const first = plan(specs, [], {}, observe(replicas));
  const pending = first.memory.b.pendingScaleIn!;
  assert.deepEqual(pending, { victims: ['b-1', 'b-3'], from: 3, count: 1, since: NOW, reason: 'b: load 1 at 1/slot -> 1, 3 -> 1', manual: false });
  // Still serving: the count waits.
  const waiting = plan(specs, [], first.memory, { ...observe(replicas), now: NOW + 1_000 });
  assert.match(waiting.plans[0].decision.reason, /waiting for 2 replica\(s\) to drain before lowering the count to 1/);
  assert.equal(waiting.plans[0].action, undefined);
  // Drained: lower the count.
  const drained = replicas.map((r) => (r.state === 'idle' ? { ...r, state: 'draining' as const } : r));
  const done = plan(specs, [], waiting.memory, { ...observe(drained), now: NOW + 2_000 });
  assert.deepEqual(done.plans[0].action, { type: 'set-count', pool: 'b', count: 1, victims: ['b-1', 'b-3'], busy: ['b-2'], graceMs: 30_000, event: { from: 3, to: 1, reason: 'b: load 1 at 1/slot -> 1, 3 -> 1', manual: false } });
  assert.equal(done.memory.b.pendingScaleIn, undefined);
  // Victims that never report draining: the count is lowered after DRAIN_WAIT_MS all the same.
  const late = plan(specs, [], waiting.memory, { ...observe(replicas), now: NOW + DRAIN_WAIT_MS });
  assert.equal(late.plans[0].action?.type, 'set-count');
});

test('plan: rates are measured on full passes only, and a wake leaves the other pools\' memory untouched', () => {
  const planner = new Planner({ a: spec(), b: spec() }, []);
  const counters = (submitted: number) => ({ submitted, completed: 0, failed: 0, serviceMs: 0 });
  const input = (now: number, n: number, only?: string[]): PassInput => ({ now, only, overrides: {}, pools: [pool('a', { counters: counters(n) }), pool('b', { counters: counters(n), load: { waiting: 1, running: 0, delayedDue: 0 } })] });
  planner.pass(input(0, 0));
  planner.pass(input(1_000, 10));
  assert.equal(planner.rates('a').arrivalRate, 3, 'alpha 0.3 of 10 jobs/s');
  const bBefore = planner.autoscaler('b');
  planner.pass(input(1_010, 20, ['a']));
  assert.equal(planner.rates('a').arrivalRate, 3, 'a wake 10 ms later does not turn 10 jobs into 1 000 jobs/s');
  assert.equal(planner.autoscaler('b'), bBefore, 'b held by the wake keeps its memory as it was');
});

test('plan: memory carried between passes: a down-cooldown started by one pass holds the next', () => {
  const specs = { a: spec({ settings: { ...scaling, concurrency: 1, cooldownDown: 60_000 } }) };
  const memory: Record<string, PoolMemory> = { a: emptyPoolMemory() };
  const up = plan(specs, [], memory, { now: NOW, overrides: {}, pools: [pool('a', { load: { waiting: 2, running: 0, delayedDue: 0 } })] });
  const after = plan(specs, [], up.memory, { now: NOW + 10_000, overrides: {}, pools: [pool('a', { replicas: [idle('a-1'), idle('a-2')] })] });
  assert.match(after.plans[0].decision.reason, /down-cooldown 50s left, 2 -> 2$/);
});
