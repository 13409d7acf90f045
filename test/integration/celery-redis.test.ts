/**
 * A Celery pool on a Redis broker, end to end (issue 21): a private redis-server for Trireme, another as Celery's
 * broker, `trireme serve` with the local driver starting Debian's Celery workers. The scenario is celery-scenario.ts.
 */
import { after, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers.js';
import { reapAll } from './procs.js';
import { celeryMissing, runScenario, startScenario, type Scenario } from './celery-scenario.js';

let trireme: TestRedis | undefined;
let broker: TestRedis | undefined;
let scenario: Scenario | undefined;

after(async () => {
  await reapAll();
  scenario?.redis.disconnect();
  await broker?.stop();
  await trireme?.stop();
});

test('a Celery pool on Redis: wakes on the first task, grows to max, scales in idle workers only, goes to zero, and a task of a worker killed with -9 runs again', { skip: celeryMissing() }, async () => {
  trireme = await startRedis();
  broker = await startRedis();
  scenario = startScenario(trireme.url, `${broker.url}/0`);
  await runScenario(scenario, { handsBack: true });
});
