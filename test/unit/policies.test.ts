import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threshold } from '../../src/core/policies/threshold.js';
import { target } from '../../src/core/policies/target.js';
import { hpa, emptyHpaMemory, hpaRecommendation } from '../../src/core/policies/hpa.js';
import { emptyReplicas, type Observation } from '../../src/core/observation.js';

const obs = (o: Omit<Partial<Observation>, 'replicas'> & { replicas?: Partial<Observation['replicas']> } = {}): Observation => ({
  waiting: 0, running: 0, delayedDue: 0, arrivalRate: 0, serviceTime: 0, fresh: true,
  ...o, replicas: { ...emptyReplicas(), ...o.replicas },
});

test('threshold jumps to enough replicas for the load, not +1', () => {
  assert.deepEqual(threshold(obs({ waiting: 7 }), { scaleUpThreshold: 3, scaleDownThreshold: 0, concurrency: 1 }, 1).desired, 7);
  assert.equal(threshold(obs({ waiting: 7 }), { scaleUpThreshold: 3, scaleDownThreshold: 0, concurrency: 2 }, 1).desired, 4);
  assert.match(threshold(obs({ waiting: 7 }), { scaleUpThreshold: 3, scaleDownThreshold: 0, concurrency: 1 }, 1).reason, /load 7 >= 3/);
});

test('threshold holds between thresholds and shrinks to the load at or below the down threshold', () => {
  const s = { scaleUpThreshold: 5, scaleDownThreshold: 1, concurrency: 1 };
  assert.equal(threshold(obs({ waiting: 3 }), s, 4).desired, 4);
  assert.equal(threshold(obs({ running: 1 }), s, 4).desired, 1);
  assert.equal(threshold(obs({}), s, 4).desired, 0);
});

test('threshold never shrinks on scale-up signals', () => {
  assert.equal(threshold(obs({ waiting: 2 }), { scaleUpThreshold: 1, scaleDownThreshold: 0, concurrency: 1 }, 5).desired, 5);
});

test('target sizes by backlog per slot and scales from zero in one step', () => {
  assert.equal(target(obs({ waiting: 9 }), { concurrency: 2, targetBacklogPerSlot: 1 }).desired, 5);
  assert.equal(target(obs({ waiting: 9 }), { concurrency: 2, targetBacklogPerSlot: 3 }).desired, 2);
});

test('target has no tolerance band: one job over the slots grows the pool', () => {
  assert.equal(target(obs({ running: 4, waiting: 1 }), { concurrency: 4, targetBacklogPerSlot: 1 }).desired, 2);
});

test('target covers Little\'s law: arrivals x service time must fit the slots', () => {
  // 2 jobs/s x 3 s = 6 in service at once; 4 slots a replica -> 2 replicas even with an empty queue.
  const r = target(obs({ arrivalRate: 2, serviceTime: 3 }), { concurrency: 4, targetBacklogPerSlot: 1 });
  assert.equal(r.desired, 2);
  assert.match(r.reason, /flow 2.00\/s x 3.0s -> 2/);
});

test('target with targetWait turns measured service time into backlog per slot', () => {
  // A slot clears 30 s / 10 s = 3 jobs within the accepted wait: 12 jobs on 1-slot replicas -> 4 replicas.
  assert.equal(target(obs({ waiting: 12, serviceTime: 10 }), { concurrency: 1, targetBacklogPerSlot: 1, targetWait: 30_000 }).desired, 4);
  // Unknown service time falls back to targetBacklogPerSlot.
  assert.equal(target(obs({ waiting: 12 }), { concurrency: 1, targetBacklogPerSlot: 1, targetWait: 30_000 }).desired, 12);
});

test('target with targetWait: the measured oldest wait grows a pool whose every slot is busy', () => {
  const s = { concurrency: 1, targetBacklogPerSlot: 5, targetWait: 10_000 };
  // Table: [observation, desired, why]. One busy 1-slot replica, three small jobs behind its long one.
  const cases: [Parameters<typeof obs>[0], number, string][] = [
    [{ running: 1, waiting: 3, oldestWait: 9_000, replicas: { busy: 1 } }, 1, 'under targetWait: the depth rule alone (4 / 5 per slot)'],
    [{ running: 1, waiting: 3, oldestWait: 12_000, replicas: { busy: 1 } }, 2, 'past it: at least one more than ready'],
    [{ running: 1, waiting: 3, oldestWait: 31_000, replicas: { busy: 1 } }, 4, 'in proportion: ceil(1 x 31 / 10), within one slot per job'],
    [{ running: 1, waiting: 1, oldestWait: 60_000, replicas: { busy: 1 } }, 2, 'never more than one slot per job of the load'],
    [{ running: 1, waiting: 3, oldestWait: 12_000, replicas: { busy: 1, idle: 1 } }, 1, 'a free slot: the job is not waiting for capacity'],
    [{ running: 1, waiting: 3, oldestWait: 12_000, replicas: { busy: 1, starting: 1 } }, 2, 'a replica already starting is not counted in the ratio'],
    [{ running: 1, waiting: 3, replicas: { busy: 1 } }, 1, 'unknown oldest wait (a source that cannot tell): the estimates alone'],
  ];
  for (const [o, want, why] of cases) assert.equal(target(obs(o), s).desired, want, why);
  assert.match(target(obs(cases[1][0]), s).reason, /oldest waited 12s > 10s with every slot busy -> 2/);
  // Without targetWait the measured age is not a target.
  assert.equal(target(obs(cases[2][0]), { concurrency: 1, targetBacklogPerSlot: 5 }).desired, 1);
});

test('target keeps replicas for running jobs', () => {
  assert.equal(target(obs({ running: 3 }), { concurrency: 1, targetBacklogPerSlot: 5 }).desired, 3);
});

// Kubernetes HPA reference cases, from the algorithm in the HPA documentation and the upstream controller.
// Our metric is load (waiting + running) as an AverageValue target per replica.
const hpaS = (extra: object = {}) => ({ hpaTarget: 5, min: 0, max: 100, ...extra });

test('HPA 1: metric at twice the target doubles the replicas', () => {
  assert.equal(hpa(obs({ waiting: 30 }), hpaS(), 3, emptyHpaMemory(), 0).desired, 6);
});

test('HPA 2: metric at half the target halves the replicas (no history in the window)', () => {
  assert.equal(hpa(obs({ waiting: 10 }), hpaS(), 4, emptyHpaMemory(), 0).desired, 2);
});

test('HPA 3 and 4: within 10 % tolerance nothing changes (ratio 1.08 and 0.92)', () => {
  assert.equal(hpaRecommendation(27, 5, 5), 5);
  assert.equal(hpaRecommendation(23, 5, 5), 5);
});

test('HPA 5: just outside tolerance (ratio 1.12) scales to ceil(total / target)', () => {
  assert.equal(hpaRecommendation(56, 5, 10), 12);
});

test('HPA 6: default scale-up allows max(4 pods, 100 %) per 15 s', () => {
  assert.equal(hpa(obs({ waiting: 100 }), hpaS(), 1, emptyHpaMemory(), 0).desired, 5);
  assert.equal(hpa(obs({ waiting: 100 }), hpaS(), 10, emptyHpaMemory(), 0).desired, 20);
});

test('HPA 7: selectPolicy Min takes the smaller of the policies', () => {
  assert.equal(hpa(obs({ waiting: 100 }), hpaS({ behavior: { scaleUp: { selectPolicy: 'Min' } } }), 1, emptyHpaMemory(), 0).desired, 2);
});

test('HPA 8: selectPolicy Disabled stops scaling in that direction', () => {
  assert.equal(hpa(obs({ waiting: 100 }), hpaS({ behavior: { scaleUp: { selectPolicy: 'Disabled' } } }), 1, emptyHpaMemory(), 0).desired, 1);
});

test('HPA 9: the default 300 s scale-down window keeps the highest recent recommendation', () => {
  const mem = { ...emptyHpaMemory(), recommendations: [{ at: -200_000, value: 8 }] };
  assert.equal(hpa(obs({ waiting: 10 }), hpaS(), 8, mem, 0).desired, 8);
});

test('HPA 10: once the window has passed, scale-down proceeds', () => {
  const mem = { ...emptyHpaMemory(), recommendations: [{ at: -301_000, value: 8 }] };
  assert.equal(hpa(obs({ waiting: 10 }), hpaS(), 8, mem, 0).desired, 2);
});

test('HPA 11: a Pods policy of 1 per 60 s removes one replica per period', () => {
  const s = hpaS({ behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } } });
  const first = hpa(obs({ waiting: 5 }), s, 5, emptyHpaMemory(), 0);
  assert.equal(first.desired, 4);
  assert.equal(hpa(obs({ waiting: 5 }), s, 4, first.memory, 30_000).desired, 4, 'still inside the period');
  assert.equal(hpa(obs({ waiting: 5 }), s, 4, first.memory, 61_000).desired, 3);
});

test('HPA 12: a Percent policy of 50 % per 60 s halves at most', () => {
  const s = hpaS({ behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] } } });
  assert.equal(hpa(obs({ waiting: 1 }), s, 10, emptyHpaMemory(), 0).desired, 5);
});

test('HPA 13: a scale-up stabilisation window takes the lowest recent recommendation', () => {
  const s = hpaS({ behavior: { scaleUp: { stabilizationWindowSeconds: 60 } } });
  const mem = { ...emptyHpaMemory(), recommendations: [{ at: -30_000, value: 3 }] };
  assert.equal(hpa(obs({ waiting: 50 }), s, 3, mem, 0).desired, 3);
});

test('HPA 14: min and max bound the result', () => {
  assert.equal(hpa(obs({ waiting: 1000 }), hpaS({ max: 10 }), 8, emptyHpaMemory(), 0).desired, 10);
  assert.equal(hpa(obs({ waiting: 0 }), hpaS({ min: 2 }), 8, emptyHpaMemory(), 0).desired, 2);
});

test('HPA activates a pool at zero directly, like KEDA', () => {
  assert.equal(hpa(obs({ waiting: 12 }), hpaS(), 0, emptyHpaMemory(), 0).desired, 3);
});

test('target: a decayed arrival average does not hold a replica', () => {
  assert.equal(target(obs({ arrivalRate: 0.001, serviceTime: 0.3 }), { concurrency: 2, targetBacklogPerSlot: 2 }).desired, 0);
});
