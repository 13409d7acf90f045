/**
 * A rate-limited pool in the planning pass, as table cases: it drains no faster than its limit, so the autoscaler
 * stops at the replicas that rate keeps busy (rate x service time / concurrency) and says so in the reason; until the
 * service time is measured it holds at what it has. And what the limit is for a pool (all its queues limited, or no
 * cap at all).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, emptyPoolMemory, type PoolObservation, type PoolSpec } from '../../src/core/plan.js';
import { resolveScaling } from '../../src/core/config.js';
import { capByRate, poolRateLimit } from '../../src/core/rate-limit.js';
import { poolSpecs } from '../../src/drivers/index.js';
import { buildProject } from '../../src/project/project.js';

const NOW = 1_000_000;
const scaling = resolveScaling({ policy: 'target', min: 0, max: 10, scaleUpThreshold: 1, scaleDownThreshold: 0, targetBacklogPerSlot: 1, cooldownDown: 0, stabilization: 0, idleShutdown: 0, startupTime: 5_000, hpaTarget: 5, schedules: [] });
const spec = (rateLimit: number | undefined, over: Partial<PoolSpec['settings']> = {}): PoolSpec => ({
  settings: { ...scaling, concurrency: 1, ...(rateLimit !== undefined ? { rateLimit } : {}), ...over },
  priority: 0, resources: { cpu: 1, memory: 1024, gpu: 0 }, drainGrace: 30_000, scaleIn: 'stop-replicas', onHost: false,
});
const idle = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, state: 'idle' as const, registered: true, lastActivity: 0 }));

interface Case { name: string; rateLimit?: number; serviceTime: number; concurrency?: number; waiting: number; replicas: number; policy?: 'target' | 'threshold' | 'hpa'; max?: number; desired: number; reason: RegExp; wanted?: number }

const cases: Case[] = [
  { name: 'no limit: the backlog decides', serviceTime: 0.25, waiting: 400, replicas: 0, desired: 10, reason: /load 400 at 1\/slot -> 400, max 10, 0 -> 10$/, wanted: 400 },
  { name: '10/s of 0.25 s jobs keep 2.5 slots busy: 3 replicas, whatever the backlog', rateLimit: 10, serviceTime: 0.25, waiting: 400, replicas: 0, desired: 3, reason: /; rate-limited to 10\/s: 3 replica\(s\) can keep up \(0\.25s a job, 1\/replica\), 0 -> 3$/, wanted: 3 },
  { name: 'concurrency counts: 4 slots a replica hold 10/s of 1 s jobs with 3 replicas', rateLimit: 10, serviceTime: 1, concurrency: 4, waiting: 400, replicas: 1, desired: 3, reason: /rate-limited to 10\/s: 3 replica\(s\) can keep up \(1\.00s a job, 4\/replica\), 1 -> 3$/ },
  { name: 'a pool above what the limit uses comes down to it', rateLimit: 10, serviceTime: 0.1, waiting: 400, replicas: 5, desired: 1, reason: /rate-limited to 10\/s: 1 replica\(s\) can keep up.*5 -> 1$/ },
  { name: 'a backlog the limit can clear with fewer replicas: no cap is said', rateLimit: 10, serviceTime: 1, waiting: 2, replicas: 0, desired: 2, reason: /^p: load 2 at 1\/slot -> 2, 0 -> 2$/ },
  { name: 'service time not measured yet: one replica from zero, no more', rateLimit: 10, serviceTime: 0, waiting: 400, replicas: 0, desired: 1, reason: /rate-limited to 10\/s: service time not measured yet, 1 replica\(s\) until it is, 0 -> 1$/ },
  { name: 'service time not measured yet: what is there is held, not grown', rateLimit: 10, serviceTime: 0, waiting: 400, replicas: 2, desired: 2, reason: /service time not measured yet, 2 replica\(s\) until it is, 2 -> 2$/ },
  { name: 'a slow limit: 0.5/s of 10 s jobs need 5 slots', rateLimit: 0.5, serviceTime: 10, waiting: 400, replicas: 0, desired: 5, reason: /rate-limited to 0\.5\/s: 5 replica/ },
  { name: 'the threshold policy is capped the same way', policy: 'threshold', rateLimit: 10, serviceTime: 0.25, waiting: 400, replicas: 0, desired: 3, reason: /load 400 >= 1; rate-limited to 10\/s: 3 replica/ },
  { name: 'the hpa policy is capped the same way', policy: 'hpa', rateLimit: 10, serviceTime: 0.25, waiting: 400, replicas: 0, desired: 3, reason: /rate-limited to 10\/s: 3 replica/ },
  { name: 'a limit that allows more than max: max holds, and the policy wanted more', rateLimit: 1000, serviceTime: 1, waiting: 400, replicas: 0, max: 4, desired: 4, reason: /max 4, 0 -> 4$/, wanted: 400 },
];

for (const c of cases) {
  test(`rate limit: ${c.name}`, () => {
    const s = spec(c.rateLimit, { concurrency: c.concurrency ?? 1, policy: c.policy ?? 'target', max: c.max ?? 10 });
    const mem = { ...emptyPoolMemory(), rates: { arrivalRate: 0, completionRate: 0, serviceTime: c.serviceTime } };
    const o: PoolObservation = { pool: 'p', load: { waiting: c.waiting, running: 0, delayedDue: 0 }, replicas: idle(c.replicas), external: [] };
    // A wake's pass (only): the rates in memory are used as they are, not measured again.
    const [p] = plan({ p: s }, [], { p: mem }, { now: NOW, pools: [o], overrides: {}, only: ['p'] }).plans;
    assert.match(p.decision.reason, c.reason);
    assert.equal(p.decision.desired, c.desired);
    if (c.wanted !== undefined) assert.equal(p.decision.wanted, c.wanted);
  });
}

test('capByRate leaves room of a twentieth of a slot: 2.02 slots of work is 2 replicas', () => {
  assert.equal(capByRate(10, 10, 0.202, 1, 0).desired, 2);
  assert.equal(capByRate(10, 10, 0.26, 1, 0).desired, 3);
});

test('a pool is capped only when every one of its queues is limited; its limit is their sum', async () => {
  assert.equal(poolRateLimit(['a', 'b'], { a: { jobs: 10, per: 1000 }, b: { jobs: 30, per: 60_000 } }), 10.5);
  assert.equal(poolRateLimit(['a', 'b'], { a: { jobs: 10, per: 1000 } }), undefined);
  const project = await buildProject({
    defaultQueue: 'a', pools: { limited: { queues: ['a'] }, mixed: { queues: ['b', 'c'] } },
    rateLimits: { a: { jobs: 5, per: '1s' }, b: { jobs: 5, per: '1s' } },
  }, { baseDir: process.cwd(), tasks: false });
  const specs = poolSpecs(project.config);
  assert.equal(specs.limited.settings.rateLimit, 5);
  assert.equal(specs.mixed.settings.rateLimit, undefined, 'queue c is not limited and can use every replica');
});
