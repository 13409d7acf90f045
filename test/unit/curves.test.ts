/**
 * Cost curves: the frontier, a curve's value at a cost, the verdicts the bench prints (on or below, a trade, beaten)
 * and the cold-start cut at equal replica-seconds; a sweep of real simulations; KEDA's cooldownPeriod as a knob.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { simulate } from '../../src/sim/engine.js';
import { parseTrace } from '../../src/sim/trace.js';
import { baseline, knobOf } from '../../src/sim/policies.js';
import { sweep, type CurvePoint } from '../../src/sim/sweep.js';
import { coldCut, curveAt, frontier, judge } from '../../src/sim/curves.js';

const pt = (replicaSeconds: number, coldStartsPer1k: number, waitP95 = 1, setting = String(replicaSeconds)): CurvePoint => ({ setting: { s: setting }, replicaSeconds, coldStartsPer1k, waitP95, flaps: 0 });

test('the frontier keeps the settings worth having, cheapest first; the curve is linear between them and flat past the dearest', () => {
  const points = [pt(100, 500), pt(200, 300), pt(150, 600), pt(300, 300), pt(400, 100)];
  assert.deepEqual(frontier(points, 'coldStartsPer1k').map((p) => p.replicaSeconds), [100, 200, 400]);
  const f = frontier(points, 'coldStartsPer1k');
  assert.equal(curveAt(f, 150, 'coldStartsPer1k'), 400);
  assert.equal(curveAt(f, 300, 'coldStartsPer1k'), 200);
  assert.equal(curveAt(f, 1000, 'coldStartsPer1k'), 100);
  assert.equal(curveAt(f, 50, 'coldStartsPer1k'), undefined, 'no setting is that cheap');
});

test('judge: on or below, a trade, or beaten', () => {
  const ours = [pt(100, 500, 1), pt(200, 300, 1), pt(400, 100, 1)];
  assert.equal(judge(ours, [pt(150, 450, 1), pt(400, 120, 1)]).verdict, 'ok', 'above our curve at their cost');
  // Cheaper than all of ours with more cold starts: not below. Dearer than all of ours: not at our cost.
  const beyond = judge(ours, [pt(80, 600, 1), pt(5000, 0, 0)]);
  assert.deepEqual([beyond.verdict, beyond.beyond], ['ok', 1]);
  // Below on cold starts, but they let jobs wait a minute: a trade.
  const trade = judge(ours, [pt(150, 200, 60)]);
  assert.equal(trade.verdict, 'trade');
  assert.deepEqual([trade.below[0].metric, trade.below[0].curve, trade.below[0].other, trade.below[0].oursOther], ['coldStartsPer1k', 400, 60, 1]);
  // Below on cold starts and no worse on waits: beaten. Cheaper than our cheapest and lower too: beaten.
  assert.equal(judge(ours, [pt(150, 200, 1)]).verdict, 'beaten');
  assert.equal(judge(ours, [pt(50, 400, 1)]).verdict, 'beaten');
  // Within the tolerance (2 % + 0.5 cold/1k): on the curve.
  assert.equal(judge(ours, [pt(150, 393, 1)]).verdict, 'ok');
});

test('coldCut: the cut in cold starts at equal replica-seconds, at our settings up to their dearest', () => {
  const fixed = [pt(100, 1000), pt(200, 900), pt(400, 500)];
  const ours = [pt(100, 1000), pt(150, 300), pt(300, 200), pt(800, 0)];
  const cut = coldCut(ours, fixed, 0.3);
  // At 150: theirs 950, ours 300 (68 % fewer); at 300: theirs 700, ours 200 (71 %); 800 is past their span.
  assert.equal(cut.compared, 3);
  assert.equal(cut.meeting, 2);
  assert.deepEqual(cut.range, [150, 300]);
  assert.equal(cut.best!.point.replicaSeconds, 300);
  assert.equal(Math.round(cut.best!.cut * 100), 71);
  // A point of ours cheaper than all of theirs is held against their cheapest (they cannot spend so little).
  const cheap = coldCut([pt(50, 400), pt(300, 200)], fixed, 0.3);
  assert.equal(cheap.compared, 2);
  assert.equal(cheap.meeting, 2);
  assert.deepEqual(cheap.range, [50, 300]);
  assert.equal(cheap.best!.theirs, 700);
  assert.equal(Math.round(coldCut([pt(50, 800)], fixed, 0.3).best!.cut * 100), 20, 'against 1 000 at their cheapest');
});

const setup = (heavy: Record<string, unknown>) => {
  const config = parseConfig({ defaultQueue: 'shap', controller: { interval: '2s' }, pools: { heavy: { queues: ['shap'], concurrency: 1, standby: false, ...heavy } } });
  return { config, router: new Router(config.routes, config.defaultQueue, config.pools) };
};

test('keda-default: KEDA takes the pool to zero cooldownPeriod after its trigger was last active; the knob moves it', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 2, startupTime: 0 } });
  const trace = parseTrace('10,shap.explain,50\n');
  // Polls every 30 s: the job is seen at 30 s (0 -> 1), runs to 80 s; the poll at 60 s is the last to see it active.
  const down = (policy: ReturnType<typeof baseline>) => simulate(config, router, trace, policy).events.filter((e) => e.to === 0).map((e) => e.t / 1000);
  assert.deepEqual(down(baseline('keda-default', config)), [360], 'the default cooldownPeriod, 300 s after the poll at 60 s');
  const knob = knobOf('keda-default', config)!;
  assert.equal(knob.name, 'cooldownPeriod');
  assert.deepEqual(down(knob.at(60_000)), [120]);
  assert.match(simulate(config, router, trace, knob.at(60_000)).events.at(-1)!.reason, /trigger inactive for 1m >= cooldownPeriod 1m: to zero/);
});

test('a sweep runs each policy at every knob value and at its own settings, per pool, over one horizon', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 2, startupTime: '5s', idleShutdown: '20s' } });
  // A job every 3 minutes: a timer of 20 s stops the pool between jobs, one of 5 minutes keeps it up.
  const trace = parseTrace(Array.from({ length: 20 }, (_, i) => `${i * 180},shap.explain,10`).join('\n'));
  const s = sweep(config, router, trace, { policies: ['trireme', 'fixed-idle', 'static-max'], values: [20_000, 300_000] });
  assert.equal(s.runs, 3 + 3 + 1);
  const curves = s.pools.heavy.curves;
  assert.deepEqual(curves['fixed-idle'].points.map((p) => p.setting), [{ idleShutdown: '20s' }, { idleShutdown: '5m' }], 'cheapest first, the own setting (20 s) once');
  assert.deepEqual(curves['fixed-idle'].own.setting, { idleShutdown: '20s' });
  const [short, long] = curves['fixed-idle'].points;
  assert.equal(short.coldStartsPer1k, 1000, 'every job waits for a start');
  assert.equal(long.coldStartsPer1k, 50, 'only the first');
  assert.ok(long.replicaSeconds > short.replicaSeconds);
  assert.deepEqual(curves['static-max'].points.map((p) => p.setting), [{}]);
  assert.equal(curves['static-max'].own.replicaSeconds, Math.max(...Object.values(curves).flatMap((c) => c.points.map((p) => p.replicaSeconds))), 'charged over the common horizon');
});
