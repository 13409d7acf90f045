/**
 * A Celery pool on a Redis broker, end to end (issue 21): a private redis-server for Trireme, another as Celery's
 * broker, `trireme serve` with the local driver starting Debian's Celery workers (the scenario is celery-scenario.ts),
 * and `trireme worker` running a Celery pool's worker the way a systemd unit does.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startRedis, waitFor, type TestRedis } from '../helpers.js';
import { CeleryRedisBroker } from '../../src/signals/celery-redis.js';
import { reapAll, trireme as run } from './procs.js';
import { celeryMissing, PYTHON, runScenario, startScenario, type Scenario } from './celery-scenario.js';

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

test('trireme worker --instance POOL-N runs a Celery pool\'s worker as a systemd unit would: named <host>:POOL-N@<host>, SIGTERM its warm shutdown', { skip: celeryMissing() }, async () => {
  broker ??= await startRedis();
  const url = `${broker.url}/2`;
  const dir = mkdtempSync(join(tmpdir(), 'trireme-celery-unit-'));
  copyFileSync(join(ROOT, 'test/fixtures/celery/celery_fixture.py'), join(dir, 'celery_fixture.py'));
  const record = join(dir, 'record.jsonl');
  writeFileSync(join(dir, 'trireme.yml'), `pools:\n  shap:\n    celery: { broker: "${url}", app: celery_fixture, queues: [shap], python: ${PYTHON} }\n    env: { CELERY_RECORD: ${JSON.stringify(record)} }\n`);
  // No Redis of Trireme's: a Celery replica needs only its broker. The unit's working folder is the project's.
  const w = run(['-c', join(dir, 'trireme.yml'), 'worker', '--instance', 'shap-3'], { TRIREME_HOSTNAME: 'vm1', TRIREME_REDIS_URL: '' });
  const celery = new CeleryRedisBroker(url);
  try {
    await waitFor(async () => (await celery.control('ping', {}, { timeoutMs: 500 })).has('vm1:shap-3@vm1'), 30_000, `the worker to answer as vm1:shap-3@vm1: ${w.output().slice(-1500)}`);
    execFileSync(PYTHON, ['-c', "from celery_fixture import work; work.apply_async((7, 2), queue='shap')"], { cwd: dir, env: { ...process.env, CELERY_BROKER_URL: url } });
    await waitFor(() => existsSync(record) && readFileSync(record, 'utf8').includes('"start"'), 30_000, 'the task to start');
    w.child.kill('SIGTERM');
    const { code } = await w.exited;
    assert.equal(code, 0);
    assert.match(readFileSync(record, 'utf8'), /"task": 7, "what": "end"/, 'the warm shutdown let the running task finish');
  } finally {
    await celery.close();
  }
});
