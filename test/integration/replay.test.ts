/**
 * A recorded live `serve` through the simulator's path: a real serve (real Redis, real local replicas) records every
 * pass it made (`--record`); the same passes fed to the planner the simulator builds for the config's own policy give
 * the same decisions and actions, pass by pass; and what serve carried out (its scale events in Redis) is what those
 * plans said. So what `simulate` shows is what serve would decide, by construction and by test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { simPlanner } from '../../src/sim/engine.js';
import { ownPolicy } from '../../src/sim/policies.js';
import type { PassInput, PoolPlan } from '../../src/core/plan.js';
import { trireme, reapAll } from './procs.js';

const CONFIG = join(ROOT, 'test/fixtures/autoscale.yml');
let redis: TestRedis;

before(async () => { redis = await startRedis(); });
after(async () => { await reapAll(); await redis.stop(); });

test('a recorded serve replays through the simulator\'s planner with the same plans, and its events are those plans\' actions', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'trireme-replay-')), 'passes.jsonl');
  const project = await loadProject(CONFIG, { TRIREME_REDIS_URL: redis.url });
  const client = new TriremeClient(project, redis.url);
  const store = new ControlStore(client.redis, project.config.prefix);
  const s = trireme(['-c', CONFIG, 'serve', '--grace', '15s', '--record', file], { TRIREME_REDIS_URL: redis.url });
  try {
    // A burst that grows heavy from zero to its max and back to zero, then a job that wakes it again.
    const burst = await Promise.all(Array.from({ length: 4 }, () => client.submit('fx.sleep', { ms: 1200 })));
    for (const j of burst) await client.waitFor(j.id, 60_000);
    await waitFor(async () => (await store.events()).some((e) => e.pool === 'heavy' && e.to === 0), 30_000, 'heavy back to zero');
    const again = await client.submit('fx.sleep', { ms: 100 });
    await client.waitFor(again.id, 60_000);
    await waitFor(async () => (await store.events()).filter((e) => e.pool === 'heavy' && e.to === 0).length >= 2, 30_000, 'heavy at zero again');
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const passes = lines as unknown as { input: PassInput; plans: PoolPlan[] }[];
  assert.ok(passes.length >= 10, `passes recorded: ${passes.length}`);
  assert.ok(passes.some((p) => p.input.only?.includes('heavy')), 'a wake\'s pass is among them');

  const planner = simPlanner(project.config, ownPolicy(project.config), head.host as { cpu: number; memory: number; gpu: number });
  for (const [i, p] of passes.entries()) {
    const replayed = JSON.parse(JSON.stringify(planner.pass(p.input))) as PoolPlan[];
    assert.deepEqual(replayed, p.plans, `pass ${i} at ${new Date(p.input.now).toISOString()}`);
  }

  // What serve carried out: every scale event in Redis is one of the planned actions, in order.
  const planned = passes.flatMap((p) => p.plans.flatMap((x) => (x.action && x.action.type !== 'drain' ? [{ pool: x.pool, from: x.action.event.from, to: x.action.event.to, reason: x.action.event.reason }] : [])));
  const events = (await store.events()).map((e) => ({ pool: e.pool, from: e.from, to: e.to, reason: e.reason })).reverse();
  assert.deepEqual(events.filter((e) => e.pool === 'heavy'), planned.filter((e) => e.pool === 'heavy'));
  assert.ok(planned.some((e) => e.pool === 'heavy' && e.to > e.from) && planned.some((e) => e.pool === 'heavy' && e.to < e.from), 'both directions');
  await client.close();
});
