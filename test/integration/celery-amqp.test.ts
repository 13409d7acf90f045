/**
 * A Celery pool on RabbitMQ, end to end (issue 21): a private redis-server for Trireme, a private rabbitmq-server
 * (test/rabbitmq.ts: its own ports, epmd and data) as Celery's broker, `trireme serve` with the local driver starting
 * Debian's Celery workers. The scenario is celery-scenario.ts.
 */
import { after, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers.js';
import { rabbitInstalled, startRabbit, type TestRabbit } from '../rabbitmq.js';
import { reapAll } from './procs.js';
import { celeryMissing, runScenario, startScenario, type Scenario } from './celery-scenario.js';

let trireme: TestRedis | undefined;
let rabbit: TestRabbit | undefined;
let scenario: Scenario | undefined;

after(async () => {
  await reapAll();
  scenario?.redis.disconnect();
  await rabbit?.stop();
  await trireme?.stop();
});

const missing = celeryMissing() ?? (rabbitInstalled() ? undefined : 'rabbitmq-server is not installed (apt-get install rabbitmq-server; .ci/run does)');

test('a Celery pool on RabbitMQ: wakes on the first task, grows to max, scales in idle workers only, goes to zero, and a task of a worker killed with -9 runs again', { skip: missing }, async () => {
  trireme = await startRedis();
  rabbit = await startRabbit();
  scenario = startScenario(trireme.url, rabbit.url);
  await runScenario(scenario, { handsBack: false });
});
