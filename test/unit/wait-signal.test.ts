/**
 * The wait-time signal in the simulator (the planning pass `serve` runs, on virtual time): a `target` pool with a
 * `targetWait` against the same pool sized by depth alone (`targetBacklogPerSlot`), on the two traces where depth
 * misleads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/core/config.js';
import { Router } from '../../src/core/routing.js';
import { simulate, type SimResult } from '../../src/sim/engine.js';
import { parseTrace } from '../../src/sim/trace.js';
import { ownPolicy } from '../../src/sim/policies.js';

const run = (scaling: Record<string, unknown>, concurrency: number, lines: string[]): SimResult => {
  const config = parseConfig({
    defaultQueue: 'work', controller: { interval: '2s' },
    pools: { work: { queues: ['work'], concurrency, standby: false, scaling: { policy: 'target', startupTime: '5s', cooldownDown: '30s', idleShutdown: '1m', ...scaling } } },
  });
  return simulate(config, new Router(config.routes, config.defaultQueue, config.pools), parseTrace(lines.join('\n')), ownPolicy(config));
};
const firstUp = (r: SimResult, above: number) => r.events.find((e) => e.to > above && e.to > e.from);
const firstUpAt = (r: SimResult, above: number) => firstUp(r, above)?.t ?? Infinity;

test('small jobs queued behind a long one (small depth, long wait): the wait signal scales up, the depth rule does not', () => {
  // One replica (min 1) runs a 5-minute job; three 1 s jobs arrive behind it. Depth is 4 against 5 per slot, and
  // no job has finished, so no service time is known: only the measured age says the small jobs are waiting.
  const trace = ['0,job.long,300', '1,job.small,1', '2,job.small,1', '3,job.small,1'];
  const depth = run({ min: 1, max: 4, targetBacklogPerSlot: 5 }, 1, trace);
  const wait = run({ min: 1, max: 4, targetBacklogPerSlot: 5, targetWait: '10s' }, 1, trace);
  assert.equal(firstUpAt(depth, 1), Infinity, 'the depth rule never grows the pool: the small jobs wait for the long one');
  // The first small job arrived at 1 s; the pass at 12 s is the first to see it past 10 s; a replica is ready at 17 s.
  assert.equal(firstUpAt(wait, 1), 12_000);
  assert.match(firstUp(wait, 1)!.reason, /oldest waited 11s > 10s with every slot busy -> 2/);
  assert.ok(wait.overall.waitMax < 20, `the small jobs ran within ~16 s (waited at most ${wait.overall.waitMax} s)`);
  assert.ok(depth.overall.waitMax > 290, `behind the long job under the depth rule (waited ${depth.overall.waitMax} s)`);
});

test('many tiny jobs (large depth, short wait): the wait target adds fewer replicas than the depth rule', () => {
  // A minute of occasional 5 ms jobs teaches the pool their service time; then 4 000 arrive at once. One replica's
  // four slots clear them in 5 s, well within a 10 s targetWait; by depth they ask for 4 000 / (4 x 2) replicas.
  const warmup = Array.from({ length: 30 }, (_, i) => `${2 * i},job.tiny,0.005`);
  const burst = Array.from({ length: 4000 }, () => '100,job.tiny,0.005');
  const depth = run({ min: 1, max: 10, targetBacklogPerSlot: 2 }, 4, [...warmup, ...burst]);
  const wait = run({ min: 1, max: 10, targetBacklogPerSlot: 2, targetWait: '10s' }, 4, [...warmup, ...burst]);
  assert.equal(depth.pools.work.peakReplicas, 10, 'the depth rule goes to max');
  assert.ok(wait.pools.work.peakReplicas < depth.pools.work.peakReplicas, `the wait target peaks at ${wait.pools.work.peakReplicas}`);
  assert.equal(wait.pools.work.peakReplicas, 1);
  assert.ok(wait.overall.waitMax <= 10, `and still meets its 10 s (waited at most ${wait.overall.waitMax} s)`);
  assert.ok(wait.pools.work.replicaSeconds < depth.pools.work.replicaSeconds);
});
