import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { simulate } from '../../src/sim/engine.js';
import { parseTrace } from '../../src/sim/trace.js';
import { ownPolicy, baseline } from '../../src/sim/policies.js';
import { Planner, type PassInput, type PoolPlan } from '../../src/core/plan.js';
import { poolSpecs } from '../../src/drivers/index.js';
import { limitsOf } from '../../src/core/capacity.js';

const setup = (heavy: Record<string, unknown>, controller: Record<string, unknown> = { interval: '2s' }) => {
  const config = parseConfig({
    defaultQueue: 'shap', controller,
    pools: { heavy: { queues: ['shap'], concurrency: 1, pricePerHour: 3.6, ...heavy } },
  });
  return { config, router: new Router(config.routes, config.defaultQueue, config.pools) };
};

test('one job, one replica, startup 30 s: the job waits exactly 30 s', () => {
  const { config, router } = setup({ standby: false, scaling: { min: 0, max: 1, startupTime: '30s', idleShutdown: '1m', cooldownDown: 0, stabilization: 0 } });
  const r = simulate(config, router, parseTrace('t_seconds,task,service_seconds\n0,shap.explain,10\n'), ownPolicy(config));
  assert.equal(r.overall.jobs, 1);
  assert.equal(r.overall.waitMax, 30);
  assert.equal(r.pools.heavy.scaleEvents, 2, 'up at the submit, down after the idle minute');
  // Up at 0; ready at 30; busy 30-40. Ticks run every 2 s: the last one that sees load is at 38 s (as live, idle
  // counts from the last observation with work), so the idle minute is over at the tick at 98 s.
  assert.equal(r.pools.heavy.replicaSeconds, 98);
  assert.equal(r.pools.heavy.cost.toFixed(6), '0.098000', '98 s at 3.6 per hour');
});

test('the seed scenario: five 2-minute heavy jobs on a pool at zero, max 4', () => {
  const { config, router } = setup({ standby: false, scaling: { policy: 'threshold', min: 0, max: 4, scaleUpThreshold: 1, scaleDownThreshold: 0, startupTime: '10s', cooldownDown: '10m', idleShutdown: '15m', stabilization: 0 } });
  const trace = parseTrace('0,shap.explain,120\n0,shap.explain,120\n0,shap.explain,120\n0,shap.explain,120\n0,shap.explain,120\n');
  const r = simulate(config, router, trace, ownPolicy(config));
  // The fifth job ends at 250 s; the last tick with load is at 248 s; 15 idle minutes later, at 1148 s, to zero.
  assert.deepEqual(r.events.map((e) => [e.t / 1000, e.from, e.to]), [[0, 0, 4], [1148, 4, 0]]);
  // Four start at 10 s; the fifth when the first finishes at 130 s.
  assert.equal(r.overall.waitP50, 10);
  assert.equal(r.overall.waitMax, 130);
  assert.equal(r.overall.peakReplicas, 4);
});

test('cold starts: a job that waited for its replica to start counts; one that found a replica up does not', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 1, startupTime: '10s', idleShutdown: '1m', cooldownDown: 0, stabilization: 0 } });
  // The first job wakes the pool from zero (cold); the second arrives while the replica is up (warm); the third
  // arrives after the idle minute took the pool back to zero (cold again).
  const r = simulate(config, router, parseTrace('0,shap.explain,5\n20,shap.explain,5\n200,shap.explain,5\n'), ownPolicy(config));
  assert.equal(r.pools.heavy.coldStarts, 2);
  assert.equal(r.overall.coldStarts, 2);
});

test('the on-submit wake: without it a pool at zero waits for the next poll', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 1, startupTime: 0 } }, { interval: '30s' });
  const trace = parseTrace('5,shap.explain,1\n');
  assert.equal(simulate(config, router, trace, ownPolicy(config)).overall.waitMax, 0);
  assert.equal(simulate(config, router, trace, { ...ownPolicy(config), wake: false }).overall.waitMax, 25);
});

test('static-max keeps the pool at max; the stepwise seed variant steps one replica per poll', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 3, startupTime: 0 } });
  const trace = parseTrace(Array.from({ length: 6 }, () => '0,shap.explain,100').join('\n'));
  assert.equal(simulate(config, router, trace, baseline('static-max', config)).pools.heavy.peakReplicas, 3);
  const seed = simulate(config, router, trace, baseline('seed-stepwise', config));
  assert.deepEqual(seed.events.slice(0, 3).map((e) => [e.t / 1000, e.to]), [[0, 1], [60, 2], [120, 3]]);
});

test('seed-threshold replays the replaced autoscaler\'s log: depth 3 on heavy at zero -> "scaling 0 -> 3", down after 15 idle minutes', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 4, startupTime: 0 } });
  // Three SHAP jobs of 2 minutes arrive at 10 s; the autoscaler polls every 60 s, so it sees them at 60 s.
  const r = simulate(config, router, parseTrace('10,shap.explain,120\n10,shap.explain,120\n10,shap.explain,120\n'), baseline('seed-threshold', config));
  assert.deepEqual(r.events[0], { t: 60_000, pool: 'heavy', from: 0, to: 3, reason: 'heavy: Queue depth 3 exceeds threshold 1, scaling, 0 -> 3' });
  // They run 60-180 s; the poll at 180 s finds them done, so idle counts from the poll at 120 s, the last that saw
  // work; 15 minutes later, at the poll at 1 020 s, to zero.
  assert.deepEqual(r.events.slice(1).map((e) => [e.t / 1000, e.from, e.to]), [[1020, 3, 0]]);
  assert.equal(r.overall.waitMax, 50);
});

test('seed-threshold per tier: light grows only past 20 waiting, straight to the depth capped at max, then waits 3 minutes', () => {
  const config = parseConfig({
    defaultQueue: 'q', controller: { interval: '2s' },
    pools: { light: { queues: ['q'], concurrency: 1, scaling: { min: 1, max: 30, startupTime: 0 } } },
  });
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  const lines = (n: number, t: number, s: number) => Array.from({ length: n }, () => `${t},api.ping,${s}`);
  // 21 jobs, one running: 20 waiting at the 60 s poll, not above 20, no change. 45 more at 61 s: 65 waiting at 120 s -> 30 (max).
  const r = simulate(config, router, parseTrace([...lines(21, 0, 600), ...lines(45, 61, 600)].join('\n')), baseline('seed-threshold', config));
  assert.deepEqual([r.events[0].t, r.events[0].to], [0, 1], 'min 1 at the start');
  const ups = r.events.filter((e) => e.to > e.from).slice(1);
  assert.equal(ups[0].t, 120_000);
  assert.equal(ups[0].to, 30);
  assert.match(ups[0].reason, /Queue depth 65 exceeds threshold 20, scaling/);
  // Down one a step once the queue is empty, each at least 3 minutes after the one before.
  const downs = r.events.filter((e) => e.to < e.from);
  assert.ok(downs.length >= 2);
  for (const [i, d] of downs.entries()) {
    assert.equal(d.from - d.to, 1);
    if (i > 0) assert.ok(d.t - downs[i - 1].t >= 180_000, `${d.t} after ${downs[i - 1].t}`);
  }
});

test('replaying the simulator\'s passes through a planner built as serve builds it gives the same plans, pass by pass', () => {
  // sim/ has no scaling rule of its own: the planning pass serve's controller runs, built from the same config and
  // fed the same inputs, makes the same decisions and actions.
  const { config, router } = setup({ scaling: { policy: 'target', min: 0, max: 4, startupTime: '5s', cooldownDown: '1m', idleShutdown: '2m', stabilization: '30s' } });
  // Two bursts with the pool back at zero between them, so that the second wakes it.
  const trace = parseTrace([...Array.from({ length: 40 }, (_, i) => `${i * 7},shap.explain,${20 + (i % 5) * 10}`), '901,shap.explain,10', '901,shap.explain,10'].join('\n'));
  const recorded: { input: PassInput; plans: PoolPlan[] }[] = [];
  const sim = simulate(config, router, trace, ownPolicy(config), { onPass: (input, plans) => recorded.push({ input: structuredClone(input), plans: structuredClone(plans) }) });
  assert.ok(sim.events.length >= 4, `a run with scaling in both directions (${sim.events.length} events)`);
  assert.ok(sim.events.some((e) => e.to < e.from) && sim.events.some((e) => e.to > e.from));
  assert.ok(recorded.some((r) => r.input.only), 'wake passes are among them');
  const live = new Planner(poolSpecs(config), limitsOf(config));
  for (const [i, r] of recorded.entries()) assert.deepEqual(live.pass(r.input), r.plans, `pass ${i} at ${r.input.now} ms`);
});

test('a trace with a bad line is refused with its line number', () => {
  assert.throws(() => parseTrace('t_seconds,task,service_seconds\n0,a,1\nx,b,2\n', 't.csv'), /t\.csv:3: expected "t_seconds,task,service_seconds", got "x,b,2"/);
});

test('the chart series ends with the state the last event left (a pool back at zero)', () => {
  const { config, router } = setup({ scaling: { min: 0, max: 1, startupTime: 0, idleShutdown: '1m', cooldownDown: 0, stabilization: 0 } });
  const r = simulate(config, router, parseTrace('0,shap.explain,10\n'), ownPolicy(config), { seriesStepMs: 5_000 });
  const s = r.series.heavy;
  assert.equal(s[s.length - 1].replicas, 0);
  assert.ok(s.some((q) => q.replicas === 1));
});

test('the CLI lists the same policies as the simulator knows (it keeps its own copy so --help loads no simulator)', async () => {
  const { POLICY_NAMES } = await import('../../src/cli/simulate.js');
  const { BASELINES } = await import('../../src/sim/policies.js');
  assert.deepEqual(POLICY_NAMES, ['trireme', ...BASELINES]);
});

test('starvation in the simulator: the starved pool\'s job starts within one loop of the other pool\'s replicas going idle', () => {
  // The case, simulated: two pools on a 2-core host (cpu 1 a replica, overcommit 1); fast takes both cores
  // for a burst and would keep them idle for its 5-minute idle timer; a job for slow arrives meanwhile.
  const scaling = { policy: 'target', min: 0, max: 2, targetBacklogPerSlot: 1, startupTime: '2s', cooldownDown: 0, stabilization: 0 };
  const config = parseConfig({
    controller: { interval: '2s' }, defaultQueue: 'fast',
    routes: [{ match: 'fast.*', queue: 'fast' }, { match: 'slow.*', queue: 'slow' }],
    pools: {
      fast: { queues: ['fast'], concurrency: 1, priority: 10, standby: false, scaling: { ...scaling, idleShutdown: '5m' } },
      slow: { queues: ['slow'], concurrency: 1, standby: false, scaling: { ...scaling, idleShutdown: '1m' } },
    },
  });
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  // Fast: four 10 s jobs at 0 on two replicas ready at 2 s: busy 2-22 s, idle from 22 s. Slow: one job at 5 s.
  const trace = parseTrace('0,fast.a,10\n0,fast.a,10\n0,fast.a,10\n0,fast.a,10\n5,slow.a,1\n');
  const fastIdleAt = 22;
  const r = simulate(config, router, trace, ownPolicy(config), { host: { cpu: 2 } });
  const slowStart = 5 + r.pools.slow.waitMax;
  assert.ok(slowStart > fastIdleAt, `slow waited for the cores (started at ${slowStart} s)`);
  assert.ok(slowStart <= fastIdleAt + 2 + 2, `slow started at ${slowStart} s: within one 2 s loop and its 2 s start-up of fast going idle at ${fastIdleAt} s`);
  // While both cores ran fast's jobs, slow was capped and said so; then fast gave one idle core back.
  assert.ok(r.events.some((e) => e.pool === 'fast' && e.from === 2 && e.to === 1 && /idle .* < 5m: hold, capped at 1 by cpu 2/.test(e.reason)), 'fast gave a core back');
  const slowUp = r.events.find((e) => e.pool === 'slow' && e.to === 1)!;
  assert.ok(slowUp.t / 1000 >= fastIdleAt && slowUp.t / 1000 <= fastIdleAt + 2, `slow's replica started at ${slowUp.t / 1000} s`);
  // The same trace on an unlimited host: slow starts at once.
  const free = simulate(config, router, trace, ownPolicy(config));
  assert.equal(free.pools.slow.waitMax, 2, 'no host limit: only its own start-up');
});

test('a pool held below its need by capacity counts starved seconds; waiting for a core that runs work is starvation', () => {
  const scaling = { policy: 'target', min: 0, max: 2, targetBacklogPerSlot: 1, startupTime: '1s', cooldownDown: 0, stabilization: 0, idleShutdown: '10s' };
  const config = parseConfig({
    controller: { interval: '2s' }, defaultQueue: 'fast',
    routes: [{ match: 'fast.*', queue: 'fast' }, { match: 'slow.*', queue: 'slow' }],
    pools: {
      fast: { queues: ['fast'], concurrency: 1, priority: 10, scaling },
      slow: { queues: ['slow'], concurrency: 1, scaling },
    },
  });
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  // Fast's two jobs hold both cores from 1 s to 31 s; slow's job at 2 s needs a core that runs work until then.
  const trace = parseTrace('0,fast.a,30\n0,fast.a,30\n2,slow.a,1\n');
  const r = simulate(config, router, trace, ownPolicy(config), { host: { cpu: 2 } });
  assert.ok(r.pools.slow.waitMax >= 29 && r.pools.slow.waitMax <= 29 + 2 + 1, `slow started within a loop and its start-up of 31 s (waited ${r.pools.slow.waitMax} s)`);
  assert.ok(r.pools.slow.starvedSeconds >= 28 && r.pools.slow.starvedSeconds <= 31, `starved ${r.pools.slow.starvedSeconds} s`);
  assert.equal(r.pools.fast.starvedSeconds, 0, 'the higher-priority pool got its need');
  assert.equal(r.overall.starvedSeconds, r.pools.slow.starvedSeconds);
  // On a 3-core host nobody waits for a core.
  assert.equal(simulate(config, router, trace, ownPolicy(config), { host: { cpu: 3 } }).overall.starvedSeconds, 0);
});

test('a standby: the first replica from zero serves at once, the next start pays startupTime until the standby is back', () => {
  const { config, router } = setup({ env: { OMP_NUM_THREADS: '1' }, scaling: { min: 0, max: 2, startupTime: '30s', idleShutdown: '10s', cooldownDown: 0, stabilization: 0 } });
  // Job 1 at 0 s wakes the pool from its standby (50 ms); job 2 at 1 s needs a second replica: the standby is being
  // replaced until 30 s, so that one takes the full startupTime. After an idle stop, job 3 at 200 s finds a standby
  // again (waits 50 ms).
  const r = simulate(config, router, parseTrace('0,shap.explain,60\n1,shap.explain,5\n200,shap.explain,5\n'), ownPolicy(config));
  assert.equal(r.pools.heavy.waitP50, 0.05);
  // The second replica starts at the next loop (2 s) and pays the full 30 s: job 2 waits 31 s.
  assert.equal(r.pools.heavy.waitMax, 31, 'the second replica paid startupTime');
  assert.equal(simulate(config, router, parseTrace('0,shap.explain,1\n'), ownPolicy(config), { standbyStartMs: 20 }).overall.waitMax, 0.02);
  // Baselines are other systems: no standby.
  assert.equal(simulate(config, router, parseTrace('0,shap.explain,1\n'), { ...ownPolicy(config), standby: undefined }).overall.waitMax, 30);
  const off = setup({ standby: false, scaling: { min: 0, max: 2, startupTime: '30s' } });
  assert.equal(simulate(off.config, off.router, parseTrace('0,shap.explain,1\n'), ownPolicy(off.config)).overall.waitMax, 30, 'standby: false');
});

test('queues of a pool take turns, BullMQ\'s order inside each: no priority first, then priority 1, 2, ...; delays count from their due time', () => {
  const config = parseConfig({
    controller: { interval: '2s' }, defaultQueue: 'a',
    routes: [{ match: 'a.*', queue: 'a' }, { match: 'b.*', queue: 'b' }],
    pools: { p: { queues: ['a', 'b'], concurrency: 1, standby: false, scaling: { min: 1, max: 1, startupTime: '5s' } } },
  });
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  // One slot (up at 5 s); everything submitted at 0 except a job delayed by 100 s. Lines 0-6 in the trace.
  const trace = parseTrace([
    't_seconds,task,service_seconds,priority,delay_seconds,queue',
    '0,a.x,1,3,,', '0,a.x,2,,,', '0,a.x,4,1,,', '0,a.x,8,,,', '0,b.x,16,,,', '0,x.x,32,,,b', '0,a.x,10,,100,',
  ].join('\n'));
  const started: [number, number][] = [];
  const r = simulate(config, router, trace, ownPolicy(config), { onStart: (_p, index, now) => started.push([index, now / 1000]) });
  // a and b alternate (b's second job came by its explicit queue); inside a, the two without priority in order,
  // then priority 1, then 3. The delayed job is due at 100 s and starts then, on the slot free since 68 s.
  assert.deepEqual(started, [[1, 5], [4, 7], [3, 23], [5, 31], [2, 63], [0, 67], [6, 100]]);
  assert.equal(r.pools.p.waitMax, 67);
  assert.equal(r.pools.p.waitP50, 23, 'the delayed job\'s wait counts from its due time (0 s)');
});

test('delayed jobs due within the start-up time count as load, as live: the pool starts before they are due', () => {
  const { config, router } = setup({ standby: false, scaling: { min: 0, max: 1, startupTime: '30s', idleShutdown: '10m', cooldownDown: 0, stabilization: 0 } });
  // Submitted at 0, due at 100 s: counted from 70 s (due within 30 s), so the replica is up by ~100 s.
  const r = simulate(config, router, parseTrace('0,shap.explain,5,0,100\n'), ownPolicy(config));
  const up = r.events.find((e) => e.to === 1)!;
  assert.ok(up.t >= 70_000 && up.t <= 72_000, `started at ${up.t / 1000} s`);
  assert.ok(r.overall.waitMax <= 2, `waited ${r.overall.waitMax} s after its due time`);
});

test('trace columns: priority, delay_seconds and queue, by header or position; bad values are refused with the line', () => {
  const jobs = parseTrace('t_seconds,task,service_seconds,queue,priority\n1,x.y,2,q1,5\n');
  assert.deepEqual(jobs, [{ t: 1, task: 'x.y', service: 2, queue: 'q1', priority: 5 }]);
  assert.deepEqual(parseTrace('1,x.y,2,0,30\n'), [{ t: 1, task: 'x.y', service: 2, delay: 30 }]);
  assert.throws(() => parseTrace('1,x.y,2,1.5\n', 'f.csv'), /f\.csv:1: priority must be a whole number from 0 \(none\) to 2097152/);
  assert.throws(() => parseTrace('1,x.y,2,,-1\n', 'f.csv'), /f\.csv:1: delay_seconds must be a number of seconds, 0 or more/);
  assert.throws(() => parseTrace('t_seconds,task,service_seconds,colour\n', 'f.csv'), /the header must begin "t_seconds,task,service_seconds" and may add priority, delay_seconds, queue/);
});

test('flaps per hour: a pool stopped only to start again within its start-up time is counted; one that holds is not', () => {
  const scaling = { policy: 'threshold', min: 0, max: 1, scaleUpThreshold: 1, scaleDownThreshold: 0, cooldownDown: '5s', stabilization: 0, startupTime: '15s', keepWarm: false };
  // A 10 s job every 40 s for an hour: a 10 s idle shutdown stops the pool ~5 s before the next job arrives.
  const trace = parseTrace(Array.from({ length: 90 }, (_, i) => `${i * 40},shap.explain,10`).join('\n'));
  const short = setup({ standby: false, scaling: { ...scaling, idleShutdown: '10s' } });
  const flapping = simulate(short.config, short.router, trace, ownPolicy(short.config)).pools.heavy;
  assert.ok(flapping.flapsPerHour >= 2, `flaps per hour ${flapping.flapsPerHour}`);
  const long = setup({ standby: false, scaling: { ...scaling, idleShutdown: '2m' } });
  assert.equal(simulate(long.config, long.router, trace, ownPolicy(long.config)).pools.heavy.flapsPerHour, 0);
});

test('plan counts the local driver\'s pools at their declared resources divided by capacity.overcommit, and says so', async () => {
  const { planTables } = await import('../../src/sim/plan.js');
  const { parseConfig } = await import('../../src/core/config.js');
  const pools = { big: { queues: ['default'], resources: { cpu: 4, memory: '4Gi' }, scaling: { min: 1, max: 4 } } };
  const host = { cpu: 2, memory: 4 * 1024 ** 3, gpu: 0 };
  const plain = planTables(parseConfig({ pools }), host);
  assert.deepEqual([plain.hostsAtMin, plain.hostsAtMax], [2, 8]);
  assert.match(plain.warnings[0], /^big: one replica \(4 cpu, 4Gi\) does not fit a host of 2 cpu, 4Gi$/);
  const over = planTables(parseConfig({ pools, capacity: { overcommit: 4 } }), host);
  // 16 cpu and 16Gi declared at max count for 4 cpu and 4Gi: two hosts of 2 cpu; one replica fits a host.
  assert.deepEqual([over.hostsAtMin, over.hostsAtMax, over.warnings], [1, 2, []]);
  assert.match(over.text, /hosts of 2 cpu \/ 4Gi: 1 at min, 2 at max \(capacity\.overcommit 4: the local driver's pools count for 1\/4 of their declared cpu and memory\)/);
});

test('a pool this host can never hold at its max is found, beside the other pools\' min replicas', async () => {
  const { roomShortfalls } = await import('../../src/core/capacity.js');
  const { parseConfig } = await import('../../src/core/config.js');
  const pools = { light: { queues: ['default'], scaling: { min: 1, max: 1 } }, heavy: { queues: ['h'], scaling: { min: 0, max: 2 } } };
  const config = parseConfig({ pools });
  // 2 cores, the default resources.cpu 1: light's min replica leaves room for one heavy replica.
  assert.deepEqual(roomShortfalls(config, { cpu: 2, memory: 64 * 1024 ** 3 }, () => true), [{ pool: 'heavy', max: 2, fits: 1, by: 'cpu', each: 1, room: 1 }]);
  assert.deepEqual(roomShortfalls(parseConfig({ pools, capacity: { overcommit: 2 } }), { cpu: 2, memory: 64 * 1024 ** 3 }, () => true), []);
  assert.deepEqual(roomShortfalls(config, { cpu: 2, memory: 64 * 1024 ** 3 }, (p) => p === 'heavy'), [], 'pools elsewhere take no room here');
});
