/**
 * `trireme tune`'s core: goals as written, the grid of settings, the recommendation (the cheapest that meets a
 * limit, the fastest within a budget, the closest when none meets it), and the curves' field names that outside
 * checks read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { simulate } from '../../src/sim/engine.js';
import { ownPolicy } from '../../src/sim/policies.js';
import { grid, parseGoal, traceOf, tunePool, yamlOf } from '../../src/sim/tune.js';
import { parseTrace } from '../../src/sim/trace.js';

test('goals: wait percentiles and cold starts, joined by commas, or cost within a budget; bad ones name the fix', () => {
  assert.deepEqual(parseGoal('p95<=30s'), { kind: 'limits', text: 'p95<=30s', limits: [{ metric: 'waitP95', max: 30 }] });
  assert.deepEqual(parseGoal('p99<=2m, cold<=50'), { kind: 'limits', text: 'p99<=2m, cold<=50', limits: [{ metric: 'waitP99', max: 120 }, { metric: 'coldStartsPer1k', max: 50 }] });
  assert.deepEqual(parseGoal('cost'), { kind: 'cost', text: 'cost' });
  assert.deepEqual(parseGoal('cost', '80%'), { kind: 'cost', text: 'cost within 80% of the current settings', share: 0.8 });
  assert.deepEqual(parseGoal('cost', '3600'), { kind: 'cost', text: 'cost within 3600 replica-seconds', budget: 3600 });
  assert.throws(() => parseGoal('p95 < 30s'), /"p95 < 30s" is not a goal; write p95<=30s/);
  assert.throws(() => parseGoal('p95<=soon'), /p95<=soon: /);
  assert.throws(() => parseGoal('cold<=-1'), /cold<=-1: give cold starts per 1 000 jobs/);
  assert.throws(() => parseGoal('p95<=30s', '80%'), /a budget goes with the goal cost/);
});

const config = parseConfig({
  defaultQueue: 'work', controller: { interval: '2s' },
  pools: { work: { queues: ['work'], concurrency: 1, standby: false, scaling: { policy: 'target', min: 0, max: 2, startupTime: '5s', idleShutdown: '20s', cooldownDown: '10s', stabilization: 0 } } },
});
// Bursts of six 20 s jobs every 5 minutes: max 2 makes them wait ~40 s; max 4 halves that.
const trace = parseTrace(Array.from({ length: 12 }, (_, b) => Array.from({ length: 6 }, () => `${b * 300},job.x,20`)).flat().join('\n'));

test('the grid holds the pool\'s own values, keep-warm on and off at min 0 only, and max never below min', () => {
  const g = grid(config, 'work');
  assert.ok(g.some((s) => s.min === 0 && s.max === 2 && s.idleShutdown === '20s' && s.targetBacklogPerSlot === 1 && s.keepWarm === true));
  assert.ok(g.every((s) => s.max >= s.min && s.max > 0));
  assert.ok(g.filter((s) => s.min > 0).every((s) => s.keepWarm === false));
  assert.deepEqual([...new Set(g.map((s) => s.max))], [1, 2, 4, 8]);
  assert.ok(grid(config, 'work', 'quick').length < g.length);
});

test('tune recommends the cheapest settings that meet the goal, and they meet it when replayed with the config', () => {
  const t = tunePool(config, 'work', trace, parseGoal('p95<=25s'), { grid: 'quick' });
  assert.ok(t.current.waitP95 > 25, `now ${t.current.waitP95} s`);
  const r = t.recommended;
  assert.equal(r.met, true);
  assert.ok(r.waitP95 <= 25 && r.setting.max > 2, JSON.stringify(r.setting));
  // Cheapest of those that meet it: nothing in either curve meets it for less.
  for (const p of [...t.curves.trireme, ...t.curves['fixed-idle']]) if (p.waitP95 <= 25) assert.ok(p.replicaSeconds >= r.replicaSeconds - 1e-6);
  // The names outside checks read.
  for (const p of t.curves.trireme) assert.deepEqual(Object.keys(p).sort(), ['coldStartsPer1k', 'flaps', 'replicaSeconds', 'setting', 'waitP95']);
  // The YAML, applied to the config and replayed as `simulate` would, meets the goal.
  const applied = parseConfig({ ...JSON.parse(JSON.stringify(config)), pools: { work: { queues: ['work'], concurrency: 1, standby: false, scaling: { policy: 'target', startupTime: '5s', cooldownDown: '10s', stabilization: 0, ...r.setting } } } });
  assert.match(r.yaml, new RegExp(`^pools:\\n  work:\\n    scaling:\\n      min: ${r.setting.min}\\n      max: ${r.setting.max}\\n`));
  const replay = simulate(applied, new Router(applied.routes, applied.defaultQueue, applied.pools), trace, ownPolicy(applied));
  assert.ok(replay.pools.work.waitP95 <= 25, `replayed p95 ${replay.pools.work.waitP95}`);
});

test('cost: the shortest p95 within the budget; a goal no setting meets gives the closest and says so', () => {
  const cost = tunePool(config, 'work', trace, parseGoal('cost', '100%'), { grid: 'quick' });
  assert.ok(cost.recommended.replicaSeconds <= cost.current.replicaSeconds + 1e-6);
  assert.ok(cost.recommended.waitP95 <= cost.current.waitP95);
  const never = tunePool(config, 'work', trace, parseGoal('p95<=0.001s'), { grid: 'quick' });
  assert.equal(never.recommended.met, false);
  assert.match(never.recommended.why, /^no setting tried meets p95<=0.001s: the closest/);
});

test('jobs as they ran become a trace from the first submit, delays and priorities kept', () => {
  const t = traceOf([{ task: 'b', queue: 'q', submittedAt: 5_000, delay: 0, service: 1 }, { task: 'a', queue: 'q', submittedAt: 2_000, delay: 3_000, service: 2, priority: 4 }]);
  assert.deepEqual(t, [{ t: 0, task: 'a', service: 2, queue: 'q', delay: 3, priority: 4 }, { t: 3, task: 'b', service: 1, queue: 'q' }]);
  assert.equal(yamlOf('p', { min: 1, max: 3, idleShutdown: '2m', keepWarm: true }), 'pools:\n  p:\n    scaling:\n      min: 1\n      max: 3\n      idleShutdown: 2m\n');
});
