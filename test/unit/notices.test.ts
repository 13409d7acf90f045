/**
 * What the controller tells webhooks, in virtual time with in-memory state and drivers: each scale event with its
 * reason and policy, max reached once per stay at max, a driver that cannot start said once per failure, drain
 * timeouts the replicas left, and a takeover naming the controller it took over from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { Controller } from '../../src/control/controller.js';
import { buildProject } from '../../src/project/project.js';
import type { Notice } from '../../src/core/notices.js';
import { MemoryDriver, MemoryState } from '../memory.js';

async function setup() {
  const project = await buildProject({
    defaultQueue: 'a', controller: { interval: 1000 },
    pools: { a: { queues: ['a'], scaling: { policy: 'target', min: 0, max: 3, targetBacklogPerSlot: 1, cooldownDown: 0, stabilization: 0, idleShutdown: 0 } } },
  }, { baseDir: process.cwd(), tasks: false });
  const clock = new ManualClock(1_000_000);
  const state = new MemoryState();
  const driver = new MemoryDriver('local', 'stop-replicas', state);
  const notices: Notice[] = [];
  const controller = new Controller({ project, state, clock, id: 'c2', drivers: { a: driver.driver }, host: { cpu: 8, memory: 64 * 1024 ** 3, gpu: 0 }, notify: (n) => notices.push(n) });
  return { controller, state, clock, driver, notices };
}

const kinds = (ns: Notice[]) => ns.map((n) => n.kind);

test('a takeover, then scale-up, max reached (once while it stays there) and scale-down, in order, with reasons and policy', async () => {
  const { controller, state, clock, driver, notices } = await setup();
  state.lastLeader = 'c1';
  state.loads.set('a', { waiting: 9, running: 0, delayedDue: 0 });
  await controller.tick();
  assert.deepEqual(kinds(notices), ['controller.takeover', 'pool.scaled', 'pool.max_reached']);
  assert.deepEqual(notices[0], { kind: 'controller.takeover', at: 1_000_000, controller: 'c2', previous: 'c1' });
  const up = notices[1] as Extract<Notice, { kind: 'pool.scaled' }>;
  assert.deepEqual({ ...up, reason: undefined }, { kind: 'pool.scaled', at: 1_000_000, pool: 'a', from: 0, to: 3, reason: undefined, policy: 'target', manual: false });
  assert.match(up.reason, /^a: load 9 at 1\/slot -> 9, max 3, 0 -> 3$/);
  assert.deepEqual(notices[2], { kind: 'pool.max_reached', at: 1_000_000, pool: 'a', max: 3, wanted: 9, reason: up.reason });
  for (const r of driver.replicas.values()) state.register({ id: r.id, pool: 'a', state: 'busy', running: 1 });
  clock.advance(1000);
  await controller.tick();
  assert.equal(notices.length, 3, 'still at max: nothing new');
  // The work is done: to zero.
  state.loads.set('a', { waiting: 0, running: 0, delayedDue: 0 });
  for (const r of state.registry.values()) r.state = 'idle';
  clock.advance(1000);
  await controller.tick();
  assert.deepEqual(kinds(notices), ['controller.takeover', 'pool.scaled', 'pool.max_reached', 'pool.scaled']);
  assert.deepEqual({ from: (notices[3] as { from: number }).from, to: (notices[3] as { to: number }).to }, { from: 3, to: 0 });
  await controller.stop();
});

test('max reached is said again only after the pool was below its max', async () => {
  const { controller, state, clock, driver, notices } = await setup();
  state.loads.set('a', { waiting: 9, running: 0, delayedDue: 0 });
  await controller.tick();
  const register = () => { for (const r of driver.replicas.values()) if (r.phase === 'running') state.register({ id: r.id, pool: 'a', state: 'idle' }); };
  register();
  state.loads.set('a', { waiting: 1, running: 0, delayedDue: 0 });
  clock.advance(1000);
  await controller.tick();
  for (const id of driver.stops) state.registry.delete(id);
  register();
  state.loads.set('a', { waiting: 20, running: 0, delayedDue: 0 });
  clock.advance(1000);
  await controller.tick();
  assert.deepEqual(kinds(notices).filter((k) => k === 'pool.max_reached').length, 2, kinds(notices).join(', '));
  await controller.stop();
});

test('a driver that cannot start is said once per failure, until a start succeeds; a new failure is said again', async () => {
  const { controller, state, clock, driver, notices } = await setup();
  driver.heldBack = { status: 'crash-loop', restarts: 3, message: '3 replica(s) exited at start; next start in 4s' };
  state.loads.set('a', { waiting: 2, running: 0, delayedDue: 0 });
  for (let i = 0; i < 3; i++) { await controller.tick(); clock.advance(1000); }
  const failed = notices.filter((n) => n.kind === 'replica.start_failed');
  assert.equal(failed.length, 1, 'three passes held back, one notice');
  assert.deepEqual(failed[0], { kind: 'replica.start_failed', at: 1_000_000, pool: 'a', asked: 2, started: 0, error: 'crash-loop: 3 replica(s) exited at start; next start in 4s' });
  driver.heldBack = undefined;
  driver.failStarts = 'spawn EAGAIN';
  await controller.tick();
  assert.equal(notices.filter((n) => n.kind === 'replica.start_failed').length, 2, 'another failure is said');
  assert.equal((notices.at(-1) as { error: string }).error, 'spawn EAGAIN');
  driver.failStarts = undefined;
  clock.advance(1000);
  await controller.tick();
  driver.failStarts = 'spawn EAGAIN';
  state.loads.set('a', { waiting: 3, running: 0, delayedDue: 0 });
  clock.advance(1000);
  await controller.tick();
  assert.equal(notices.filter((n) => n.kind === 'replica.start_failed').length, 3, 'after a start succeeded, the same failure is said again');
  await controller.stop();
});

test('drain timeouts the replicas left are passed on; a controller that loses and takes the lease again says so', async () => {
  const { controller, state, clock, notices } = await setup();
  await controller.tick();
  state.notices.push({ kind: 'replica.drain_timeout', at: 5, pool: 'a', replica: 'a-9', handedBack: 2, graceMs: 30_000 });
  clock.advance(1000);
  await controller.tick();
  assert.deepEqual(notices.filter((n) => n.kind === 'replica.drain_timeout'), [{ kind: 'replica.drain_timeout', at: 5, pool: 'a', replica: 'a-9', handedBack: 2, graceMs: 30_000 }]);
  assert.deepEqual(state.notices, [], 'taken');
  state.held = false;
  clock.advance(1000);
  await controller.tick();
  state.lastLeader = 'c9';
  state.held = true;
  clock.advance(1000);
  await controller.tick();
  const takeovers = notices.filter((n) => n.kind === 'controller.takeover');
  assert.equal(takeovers.length, 2);
  assert.deepEqual(takeovers[1], { kind: 'controller.takeover', at: 1_003_000, controller: 'c2', previous: 'c9' });
  await controller.stop();
});
