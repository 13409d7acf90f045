/**
 * Learned keep-warm in virtual time: a pool at min 0 fed bursts through decide(), one call per 1 s control loop,
 * with its replicas following the decisions (a started replica serves after startupTime).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, emptyMemory, type AutoscalerMemory, type Decision, type PoolSettings } from '../../src/core/autoscaler.js';
import { resolveScaling, parseConfig } from '../../src/core/config.js';
import { emptyReplicas, type Observation } from '../../src/core/observation.js';
import { MIN_GAPS, WINDOW, pattern, observeLoad, emptyGaps, warmWindow } from '../../src/core/keepwarm.js';

const settings = (scaling: Record<string, unknown>): PoolSettings => {
  const cfg = parseConfig({ pools: { p: { queues: ['default'], concurrency: 1, scaling } } });
  return { ...resolveScaling(cfg.pools.p.scaling), concurrency: 1 };
};
const S = settings({ policy: 'threshold', min: 0, max: 2, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, idleShutdown: '60s', startupTime: '5s' });

/**
 * Runs bursts (load 2 for 10 s) starting at the given times, a loop per second, and returns every decision and, per
 * burst, whether a replica was already serving when it began (a warm start) or not (a cold one).
 */
function run(burstStarts: number[], s = S, lengthOf: (i: number) => number = () => 10_000, loadOf: (i: number) => number = () => 2): { decisions: { t: number; d: Decision }[]; warm: boolean[]; serving: number[] } {
  let mem: AutoscalerMemory = emptyMemory();
  // Replicas: start time of each live one; serving once startupTime has passed.
  let replicas: number[] = [];
  const decisions: { t: number; d: Decision }[] = [];
  const warm: boolean[] = [];
  const servingAtStart: number[] = [];
  const end = burstStarts[burstStarts.length - 1] + 200_000;
  for (let t = 0; t <= end; t += 1_000) {
    const burst = burstStarts.findIndex((b, i) => t >= b && t < b + lengthOf(i));
    const serving = replicas.filter((r) => t - r >= s.startupTime).length;
    if (burstStarts.includes(t)) { warm.push(serving > 0); servingAtStart.push(serving); }
    const o: Observation = {
      waiting: burst >= 0 ? loadOf(burst) : 0, running: 0, delayedDue: 0, arrivalRate: 0, serviceTime: 0, fresh: true,
      replicas: { ...emptyReplicas(), idle: serving, starting: replicas.length - serving },
    };
    const d = decide('p', o, s, mem, t);
    mem = d.memory;
    decisions.push({ t, d });
    if (d.desired > replicas.length) replicas = [...replicas, ...Array.from({ length: d.desired - replicas.length }, () => t)];
    if (d.desired < replicas.length) replicas = replicas.slice(0, d.desired);
  }
  return { decisions, warm, serving: servingAtStart };
}

const every = (gap: number, n: number, from = 10_000) => Array.from({ length: n }, (_, i) => from + i * gap);

test('regular gaps: after learning them, the pool stops early and is pre-warmed before each burst', () => {
  // A burst every 3 minutes: 10 s of work, then 170 s idle.
  const starts = every(180_000, 20);
  const { decisions, warm } = run(starts);
  // Learning: the first bursts start cold (idleShutdown 60 s has stopped the pool by then).
  assert.deepEqual(warm.slice(0, MIN_GAPS), Array(MIN_GAPS).fill(false));
  // Learned: every later burst finds a replica serving.
  assert.deepEqual(warm.slice(MIN_GAPS + 1), Array(warm.length - MIN_GAPS - 1).fill(true));
  // Each burst asked for two replicas (load 2, one slot each): both are pre-warmed.
  const prewarm = decisions.find(({ d }) => /pre-warm 2 \(p25 of the bursts' peaks\)$/.test(d.why));
  assert.ok(prewarm, 'a pre-warm decision');
  assert.match(prewarm.d.reason, /^p: keep-warm: next burst expected in ~\d+ s \(p5 of \d+ idle gaps\): pre-warm 2 \(p25 of the bursts' peaks\), 0 -> 2$/);
  assert.equal(prewarm.d.need, 0, 'speculative: capacity may refuse it');
  // Between bursts the replica is stopped early rather than held for a minute of idleShutdown, when that pays.
  assert.ok(decisions.some(({ d }) => /keep-warm: .*start again \d+ s from now: to min/.test(d.why)), 'stopped early');
  // Pre-warmed, not held: the pool is at zero for most of each gap once learned.
  const learned = decisions.filter(({ t }) => t > starts[MIN_GAPS + 2]);
  const atZero = learned.filter(({ d }) => d.desired === 0).length / learned.length;
  assert.ok(atZero > 0.5, `at zero ${Math.round(atZero * 100)} % of the time`);
});

test('bursts are pre-warmed at the size three in four of them reached, not one replica', () => {
  const s = settings({ policy: 'threshold', min: 0, max: 4, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, idleShutdown: '60s', startupTime: '5s' });
  const starts = every(180_000, 24);
  // Every burst needs three replicas: once learned, each starts with three serving.
  const three = run(starts, s, () => 10_000, () => 3);
  assert.deepEqual(three.serving.slice(MIN_GAPS + 1), Array(starts.length - MIN_GAPS - 1).fill(3), `serving at each burst start: ${three.serving}`);
  assert.ok(three.decisions.some(({ d }) => /pre-warm 3 \(p25 of the bursts' peaks\), 0 -> 3$/.test(d.reason)));
  // Sizes 1, 1, 4, 4 in turn: the lower quartile is 1, so one replica is pre-warmed (the big bursts start the rest).
  const mixed = run(starts, s, () => 10_000, (i) => [1, 1, 4, 4][i % 4]);
  assert.ok(mixed.serving.slice(MIN_GAPS + 1).every((n) => n === 1), `serving at each burst start: ${mixed.serving}`);
  assert.ok(!mixed.decisions.some(({ d }) => /p25 of the bursts' peaks/.test(d.why)));
});

test('irregular gaps: no pattern, so idleShutdown decides as before', () => {
  // Gaps from 20 s to 40 minutes: p99 is far more than 4x p5.
  const gaps = [20, 2400, 45, 900, 30, 1800, 60, 2000, 25, 1500, 90, 2200].map((s) => s * 1000);
  const starts = gaps.reduce<number[]>((acc, g) => [...acc, acc[acc.length - 1] + 10_000 + g], [10_000]);
  const { decisions } = run(starts);
  assert.ok(!decisions.some(({ d }) => /keep-warm/.test(d.why)), 'no keep-warm decision');
  assert.ok(decisions.some(({ d }) => /idle 1m >= 1m: to min/.test(d.why)), 'idleShutdown stops the pool');
  const last = decisions[decisions.length - 1].d.memory.idle!;
  assert.equal(pattern(last), undefined);
});

test('a change of pattern is followed within the window of gaps', () => {
  // 3-minute gaps, then 8-minute gaps.
  const first = every(180_000, 12);
  const second = every(480_000, WINDOW + 4, first[first.length - 1] + 480_000);
  const { warm } = run([...first, ...second]);
  const after = warm.slice(first.length);
  // Once the old gaps have left the window, every burst is warm again. (While both kinds are in it, its window is
  // too wide to pay for with a 60 s idle shutdown, so the fixed timer decides and those bursts start cold.)
  assert.deepEqual(after.slice(WINDOW), Array(after.length - WINDOW).fill(true), `warm starts after the change: ${after.map((w) => (w ? 'W' : 'c')).join('')}`);
  assert.ok(after.slice(WINDOW).length >= 4);
});

test('scheduled work: bursts that start every 4 minutes but last 10 s to 2 minutes are kept warm by their periods', () => {
  // Idle gaps run from 2 to 3m50s (their p5-p99 window is ~110 s wide); the periods between burst starts are all
  // 240 s, a window of 0 s: the starts are the pattern.
  const lengths = [10_000, 120_000, 40_000, 90_000, 20_000, 60_000];
  const starts = every(240_000, 24);
  const { decisions, warm } = run(starts, S, (i) => lengths[i % lengths.length]);
  const last = decisions[decisions.length - 1].d.memory.idle!;
  assert.equal(pattern(last)?.basis, 'start');
  assert.ok(decisions.some(({ d }) => /keep-warm: next burst expected in ~\d+ s \(p5 of \d+ periods between burst starts\): pre-warm 2 \(p25 of the bursts' peaks\), 0 -> 2$/.test(d.reason)), 'pre-warmed from the periods');
  assert.deepEqual(warm.slice(MIN_GAPS + 2), Array(warm.length - MIN_GAPS - 2).fill(true), `warm starts once learned: ${warm.map((w) => (w ? 'W' : 'c')).join('')}`);
  // And cheaper than holding through each gap: the pool is at zero for a good part of the time once learned.
  const learned = decisions.filter(({ t }) => t > starts[MIN_GAPS + 2]);
  assert.ok(learned.filter(({ d }) => d.desired === 0).length / learned.length > 0.2, 'stopped between bursts');
});

test('a pattern too wide to keep warm whole is kept warm at its end, within twice what the fixed timer spends per gap', () => {
  // Gaps of 20 to 60 minutes: regular by the spread rule, but a replica kept warm from their p5 would wait ~20
  // minutes on a typical gap where the fixed timer spends 20 s and a start-up.
  const gaps = [20, 45, 30, 60, 25, 50, 35, 40, 55, 28, 33, 47].map((m) => m * 60_000);
  const g = gaps.reduce((acc, gap, i) => {
    const t = i * 4 * 3_600_000;
    return observeLoad(observeLoad(observeLoad(acc, 1, t), 0, t + 1_000), 1, t + 1_000 + gap);
  }, emptyGaps());
  const p = pattern(g)!;
  assert.ok(p, 'the gaps are a pattern by the spread rule');
  const w = warmWindow(p, 20_000, 5_000);
  assert.equal(w.late, true);
  assert.equal(w.until, p.p99 + 5_000);
  // The earliest start within the budget (2 x 25 s per gap), to the second: a start a second earlier costs more.
  assert.ok(w.expected <= 50_000 && w.expected > 45_000, `expected warm wait ${w.expected} ms`);
  assert.ok(w.from > p.p50, `kept warm only late in the window (from ${w.from / 60_000} min)`);
  // A pool that holds 15 idle minutes anyway keeps warm across the whole window, from p5 less a start-up.
  assert.deepEqual([warmWindow(p, 900_000, 30_000).late, warmWindow(p, 900_000, 30_000).from], [false, p.p5 - 30_000 - 5_000]);
  // In a run: the 20 s pool stops at once after each burst and starts again late in the gap, saying why.
  const starts = gaps.reduce<number[]>((acc, gap) => [...acc, acc[acc.length - 1] + 10_000 + gap], [10_000]);
  const short = settings({ policy: 'threshold', min: 0, max: 2, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, idleShutdown: '20s', startupTime: '5s' });
  const a = run(starts, short, () => 10_000, () => 1);
  assert.ok(a.decisions.some(({ d }) => /keep-warm: next burst expected \d+ s to \d+ s from now \(p5-p99 of \d+ idle gaps\), kept warm for the last \d+ s of that: pre-warm, 0 -> 1$/.test(d.reason)));
});

test('the window ends past the largest gap seen, by the gaps\' mean spacing: most while few are known', () => {
  const gapsOf = (minutes: number[]) => minutes.reduce((acc, gap, i) => {
    const t = i * 4 * 3_600_000;
    // Load last seen at t, idle from the next loop on: the gap runs from t to the next burst.
    return observeLoad(observeLoad(observeLoad(acc, 1, t), 0, t + 1_000), 1, t + gap * 60_000);
  }, emptyGaps());
  assert.equal(pattern(gapsOf([20, 30])), undefined, `fewer than ${MIN_GAPS} gaps: no pattern yet`);
  // Three gaps of 20, 30 and 40 minutes: the bursts seen are spread 10 minutes apart, so the next may come up to ~50.
  const three = pattern(gapsOf([30, 20, 40]))!;
  assert.deepEqual([three.n, three.p5, three.p99], [3, 20 * 60_000, 50 * 60_000]);
  // Thirty gaps spread over the same 20 minutes: the largest is nearly the top already.
  const thirty = pattern(gapsOf(Array.from({ length: 30 }, (_, i) => 20 + (20 * i) / 29)))!;
  assert.equal(Math.round(thirty.p99 / 1_000), Math.round((40 + 20 / 29) * 60));
  // A burst later than any seen, within that estimate, still finds the replica warm (the 20 s pool of the test above).
  const short = settings({ policy: 'threshold', min: 0, max: 2, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, idleShutdown: '20s', startupTime: '5s' });
  const starts = [20, 30, 25, 33].reduce<number[]>((acc, gap) => [...acc, acc[acc.length - 1] + 10_000 + gap * 60_000], [10_000]);
  assert.deepEqual(run(starts, short, () => 10_000, () => 1).warm, [false, false, false, false, true], 'the 33-minute gap, past the 30 seen, is warm');
  // Gaps so spread that even three say nothing regular (the end estimate past 4x the shortest) are no pattern.
  assert.equal(pattern(gapsOf([10, 30, 38])), undefined);
});

test('periods are learned from burst starts', () => {
  let g = emptyGaps();
  g = observeLoad(g, 1, 0);
  g = observeLoad(g, 1, 5_000);
  g = observeLoad(g, 0, 30_000);
  g = observeLoad(g, 1, 100_000);
  assert.deepEqual(g.periods, [100_000], 'from the first burst\'s start to the next');
  assert.deepEqual(g.gaps, [95_000], 'from the first burst\'s end to the next start');
  assert.equal(g.burstAt, 100_000);
});

test('keepWarm: false, hpa, or a min above 0 leave the pool to its other settings', () => {
  const starts = every(180_000, 14);
  for (const s of [settings({ policy: 'threshold', min: 0, max: 2, keepWarm: false, idleShutdown: '60s', startupTime: '5s' }), settings({ policy: 'threshold', min: 1, max: 2, idleShutdown: '60s', startupTime: '5s' })]) {
    assert.ok(!run(starts, s).decisions.some(({ d }) => /keep-warm/.test(d.why)));
  }
  assert.throws(() => settings({ policy: 'hpa', min: 0, max: 2, keepWarm: true }), /scaling\.keepWarm: the hpa policy does not read this/);
});

test('the gaps are learned from load observations, and only the last window is kept', () => {
  let g = emptyGaps();
  g = observeLoad(g, 0, 500); // idle before any load: no spell yet (waiting for the first burst is no gap)
  assert.equal(g.idleSince, undefined);
  g = observeLoad(g, 2, 1_000);
  g = observeLoad(g, 0, 2_000); // idle since the last time it had load
  assert.equal(g.idleSince, 1_000);
  g = observeLoad(g, 3, 61_000); // load again: one gap of 60 s
  assert.deepEqual(g.gaps, [60_000]);
  assert.equal(g.idleSince, undefined);
  for (let i = 0; i < WINDOW + 5; i++) g = observeLoad(observeLoad(g, 0, 100_000 + i * 10), 1, 100_000 + i * 10 + 5);
  assert.equal(g.gaps.length, WINDOW);
});

test('flap guard: a pool that keeps stopping only to start again soon after holds longer, and says so', () => {
  // Short timers (idle 10 s, down-cooldown 5 s) and work that comes back 20 s after each stop: without the guard
  // every burst would find the pool stopped moments before. keepWarm is off to see the guard alone.
  const s = settings({ policy: 'threshold', min: 0, max: 2, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, idleShutdown: '10s', startupTime: '15s', keepWarm: false });
  // Bursts 40 s apart with 10 s of work: idle 30 s between them, so a 10 s idle shutdown stops the pool 20 s before
  // the next burst, inside startupTime (15 s) plus the idle time that led to the stop (10 s).
  const starts = every(40_000, 12);
  const { decisions } = run(starts, s);
  const flapsAt = decisions.map(({ d }) => d.flapsLastHour ?? 0);
  assert.ok(Math.max(...flapsAt) >= 2, `flaps counted: ${Math.max(...flapsAt)}`);
  const guarded = decisions.find(({ d }) => /flap guard: \d+ flaps in the last hour, holding \dx longer/.test(d.why));
  assert.ok(guarded, 'the guard shows in the reason');
  // Backed off: after the guard engaged, the pool is no longer stopped between bursts.
  const after = decisions.filter(({ t }) => t > guarded.t + 40_000 && t < starts[starts.length - 1]);
  assert.ok(after.every(({ d }) => d.desired > 0), 'held through the gaps once the guard backs off');
  // Stops that are followed by long quiet are no flaps: the regular-gaps run above never counts one.
  assert.equal(Math.max(...run(every(180_000, 6), settings({ policy: 'threshold', min: 0, max: 2, cooldownDown: '5s', stabilization: 0, idleShutdown: '60s', startupTime: '5s', keepWarm: false })).decisions.map(({ d }) => d.flapsLastHour ?? 0)), 0);
});
