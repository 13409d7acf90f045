/**
 * Celery pools without a broker: the config block and its errors, the worker's command line, the event table
 * (busy and idle workers, running and reserved tasks, the load, counters, dead workers) in virtual time, and kombu's
 * wire shapes checked against messages recorded from a real Celery 5.2.6 worker (test/fixtures/celery/recorded-redis.json).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, ConfigError } from '../../src/core/config.js';
import { brokerFamily } from '../../src/core/celery.js';
import { POOL_KINDS } from '../../src/core/pool-kind.js';
import { buildProject } from '../../src/project/project.js';
import { replicaSpec } from '../../src/drivers/spec.js';
import { CeleryWorkers, type CeleryEvent } from '../../src/signals/celery-workers.js';
import { controlBody, controlRequest, eventsOf, openEnvelope, replyOf, sealEnvelope } from '../../src/signals/kombu.js';
import { ROOT } from '../helpers.js';

const celery = { broker: 'amqp://guest:guest@127.0.0.1:5672//', app: 'tasks', queues: ['shap', 'causal'] };
const problems = (cfg: unknown): string[] => {
  try { parseConfig(cfg); return []; } catch (e) { assert.ok(e instanceof ConfigError); return (e as ConfigError).message.split('\n').slice(1).map((l) => l.replace(/^\s*- /, '')); }
};

test('config: a pool with a celery block is a Celery pool; a config of Celery pools alone needs no tasks, routes or default queue', () => {
  const cfg = parseConfig({ pools: { shap: { celery, concurrency: 2, scaling: { min: 0, max: 4, idleShutdown: '20s' } } } });
  const p = cfg.pools.shap;
  assert.equal(p.kind, 'celery');
  assert.deepEqual(p.queues, ['shap', 'causal']);
  assert.equal(p.celery!.python, 'python3');
  assert.equal(p.celery!.events, true);
  assert.equal(p.standby, false);
  assert.equal(p.scaling.idleShutdown, 20_000);
  assert.equal(POOL_KINDS[p.kind].ownQueues, false);
  assert.equal(parseConfig({ pools: { light: { queues: ['default'] } } }).pools.light.kind, 'trireme');
});

test('config: what is wrong with a celery block is said by path, every problem at once', () => {
  const got = problems({
    pools: {
      shap: {
        queues: ['x'], isolation: 'process', maxMemory: '1Gi', standby: true,
        celery: { broker: 'kafka://k:9092', app: 'tasks py', queues: [], args: ['-Q', 'other', '--concurrency=3', '--autoscale=4,1', '-E'] },
      },
    },
  });
  assert.deepEqual(got.map((l) => l.split(':')[0]).sort(), [
    'pools.shap.celery.app', 'pools.shap.celery.args.0', 'pools.shap.celery.args.2', 'pools.shap.celery.args.3', 'pools.shap.celery.broker',
    'pools.shap.celery.queues', 'pools.shap.isolation', 'pools.shap.maxMemory', 'pools.shap.queues', 'pools.shap.standby',
  ].sort());
  assert.ok(got.some((l) => /celery\.broker: unknown broker URL "kafka:\/\/k:9092": use redis:\/\/, rediss:\/\/, amqp:\/\//.test(l)));
  assert.ok(got.some((l) => /pools\.shap\.queues: .*cannot have both Trireme queues and a Celery block/.test(l)));
  assert.ok(got.some((l) => /args\.3: "--autoscale=4,1" is set by Trireme/.test(l)));
  // A password in a broker URL stays out of the message.
  assert.ok(problems({ pools: { shap: { celery: { ...celery, broker: 'kafka://u:secret@k' } } } })[0].includes('kafka://u:***@k'));
  assert.match(problems({ pools: { shap: {} } })[0], /pools\.shap\.queues: give the queues the pool serves .* or a celery block/);
});

test('config: Trireme jobs cannot be routed to a Celery queue, and task modules need a pool of Trireme\'s own', () => {
  const got = problems({ tasks: ['./tasks.ts'], routes: [{ match: 'shap.*', queue: 'shap' }], pools: { shap: { celery } } });
  assert.ok(got.some((l) => /^routes\.0\.queue: queue "shap" belongs to the celery pool "shap": Trireme sends no job there/.test(l)), got.join('\n'));
  assert.ok(got.some((l) => /^tasks: no pool runs Trireme tasks/.test(l)), got.join('\n'));
  // Beside a pool of its own, a config's default queue must be one of Trireme's.
  assert.match(problems({ defaultQueue: 'shap', pools: { shap: { celery }, light: { queues: ['default'] } } })[0], /^defaultQueue: queue "shap" belongs to the celery pool/);
  // A queue belongs to one pool, whatever its kind.
  assert.match(problems({ pools: { shap: { celery }, light: { queues: ['shap'] } } })[0], /queue "shap" is already served by pool "shap"/);
});

test('broker families: Redis and AMQP schemes, and nothing else', () => {
  assert.deepEqual(['redis://h:6379/0', 'rediss://h', 'amqp://g:g@h//', 'AMQPS://h', 'pyamqp://h//', 'sqs://', 'redis+socket:///tmp/r.sock'].map(brokerFamily),
    ['redis', 'redis', 'amqp', 'amqp', 'amqp', undefined, undefined]);
});

test('replica spec: a Celery worker with the options correct scaling needs, the broker in its environment, run in the config\'s folder', async () => {
  const project = await buildProject({
    pools: { shap: { celery: { ...celery, python: '/usr/bin/python3', args: ['--loglevel=INFO'] }, concurrency: 3, timeLimit: '90s', maxTasksPerChild: 50, drainGrace: '45s', image: 'registry.example/shap:1', env: { OMP_NUM_THREADS: '1' } } },
  }, { baseDir: ROOT, configPath: join(ROOT, 'trireme.yml') });
  const spec = replicaSpec(project, 'shap', { id: 'shap-vm-1a2b3c4d', host: 'vm', extraArgs: ['--lock', '1s'] });
  assert.deepEqual(spec.entrypoint, ['/usr/bin/python3', '-m', 'celery']);
  assert.deepEqual(spec.args, [
    '-A', 'tasks', 'worker', '-Q', 'shap,causal', '-c', '3', '-n', 'shap-vm-1a2b3c4d@vm', '-E', '-O', 'fair', '--prefetch-multiplier=1',
    '--without-mingle', '--without-gossip', '--time-limit=90', '--max-tasks-per-child=50', '--loglevel=INFO',
  ]);
  assert.equal(spec.env.CELERY_BROKER_URL, celery.broker);
  assert.equal(spec.env.OMP_NUM_THREADS, '1');
  assert.equal(spec.afterGrace, 'SIGQUIT');
  assert.equal(spec.inConfigDir, true);
  assert.equal(spec.image, 'registry.example/shap:1');
  assert.equal(spec.drainGraceMs, 45_000);
  // Without a host, the node name is Celery's own %h: what an exported container or pod is called.
  assert.ok(replicaSpec(project, 'shap').args.includes('shap@%h'));
  // events: false leaves task events out (heartbeats still flow).
  const quiet = await buildProject({ pools: { shap: { celery: { ...celery, events: false } } } }, { baseDir: ROOT });
  assert.ok(!replicaSpec(quiet, 'shap').args.includes('-E'));
});

/** Events as a worker named `node` sends them, its clock in seconds. */
const ev = (node: string, type: string, t: number, more: Partial<CeleryEvent> = {}): CeleryEvent => ({ hostname: node, type, timestamp: t, pid: 7, ...more });

test('worker table: reserved and running tasks make a worker busy; the load counts the broker, what workers hold, and what comes due', () => {
  const w = new CeleryWorkers([{ name: 'shap', queues: ['shap', 'causal'], concurrency: 2 }]);
  const a = 'shap-vm-aaaaaaaa@vm';
  const b = 'shap-vm-bbbbbbbb@vm';
  w.apply(ev(a, 'worker-online', 100, { freq: 2, active: 0 }), 1_000);
  w.apply(ev(b, 'worker-heartbeat', 100, { freq: 2, active: 0 }), 1_000);
  assert.deepEqual(w.replicas().map((r) => [r.id, r.pool, r.host, r.state]), [[a, 'shap', 'vm', 'idle'], [b, 'shap', 'vm', 'idle']]);
  w.apply(ev(a, 'task-received', 101, { uuid: 't1' }), 1_100);
  assert.equal(w.replicas()[0].state, 'busy', 'a worker holding a reserved task is busy');
  w.apply(ev(a, 'task-started', 101.5, { uuid: 't1' }), 1_600);
  w.apply(ev(a, 'task-received', 101.6, { uuid: 't2' }), 1_700);
  w.apply(ev(a, 'task-received', 101.6, { uuid: 't3', eta: new Date(60_000).toISOString() }), 1_700);
  w.apply(ev(a, 'task-received', 101.6, { uuid: 't4', eta: new Date(3_000).toISOString() }), 1_700);
  const depths = new Map([['shap', { ready: 5, unacked: 4 }], ['causal', { ready: 2, unacked: 0 }]]);
  // running 1; waiting: 7 ready + 1 reserved now (t2); t4 comes due within 5 s; t3 (a minute away) is not load.
  assert.deepEqual(w.load('shap', depths, 2_000, 5_000), { waiting: 8, running: 1, delayedDue: 1 });
  // Unacknowledged messages no event accounts for (a worker that died holding them, missed events) are load too.
  assert.deepEqual(w.load('shap', new Map([['shap', { ready: 0, unacked: 9 }], ['causal', { ready: 0, unacked: 0 }]]), 2_000, 5_000), { waiting: 6, running: 1, delayedDue: 1 });
  // Without an unacked count (RabbitMQ), the events' reserved tasks.
  assert.deepEqual(w.load('shap', new Map([['shap', { ready: 3 }]]), 2_000, 5_000), { waiting: 4, running: 1, delayedDue: 1 });
  assert.deepEqual(w.replicas().map((r) => [r.state, r.running]), [['busy', 1], ['idle', 0]]);
  w.apply(ev(a, 'task-succeeded', 103.5, { uuid: 't1', runtime: 2 }), 3_600);
  w.apply(ev(a, 'task-revoked', 103.6, { uuid: 't2' }), 3_600);
  w.apply(ev(a, 'task-revoked', 103.6, { uuid: 't4' }), 3_600);
  assert.deepEqual(w.replicas().map((r) => r.state), ['idle', 'idle'], 'a worker holding only a task due much later is idle');
});

test('worker table: a heartbeat counts running tasks whose events are not in yet, but a stale one keeps no worker busy', () => {
  const w = new CeleryWorkers([{ name: 'shap', queues: ['shap'], concurrency: 2 }]);
  const a = 'ext@h1';
  w.apply(ev(a, 'worker-heartbeat', 0, { freq: 2, active: 0 }), 0);
  w.setQueues(new Map([[a, ['shap']]]));
  // The worker buffers task events: its heartbeat says 2 before the task-started events arrive.
  w.apply(ev(a, 'worker-heartbeat', 2, { freq: 2, active: 2 }), 2_000);
  assert.equal(w.replicas()[0].running, 2);
  w.apply(ev(a, 'task-started', 1.9, { uuid: 'x' }), 2_100);
  w.apply(ev(a, 'task-started', 1.9, { uuid: 'y' }), 2_100);
  w.apply(ev(a, 'task-succeeded', 2.5, { uuid: 'x', runtime: 0.6 }), 2_600);
  w.apply(ev(a, 'task-succeeded', 2.6, { uuid: 'y', runtime: 0.7 }), 2_700);
  assert.deepEqual([w.replicas()[0].running, w.replicas()[0].state], [0, 'idle'], 'the heartbeat of 2 s ago is older than the tasks\' ends');
  // Ends never seen (a restart of the controller): after two intervals the heartbeat's count wins.
  w.apply(ev(a, 'task-started', 3, { uuid: 'lost' }), 3_000);
  w.apply(ev(a, 'worker-heartbeat', 4, { freq: 2, active: 0 }), 4_000);
  assert.equal(w.replicas()[0].running, 1);
  w.apply(ev(a, 'worker-heartbeat', 6, { freq: 2, active: 0 }), 6_000);
  assert.equal(w.replicas()[0].running, 1, 'one interval is not enough');
  w.apply(ev(a, 'worker-heartbeat', 8, { freq: 2, active: 0 }), 8_000);
  assert.equal(w.replicas()[0].running, 0);
});

test('worker table: pools from node names and from active_queues; outside workers count with their own concurrency', () => {
  const w = new CeleryWorkers([{ name: 'shap', queues: ['shap'], concurrency: 2 }, { name: 'shap-gpu', queues: ['gpu'], concurrency: 1 }]);
  w.apply(ev('shap-gpu-vm-1@vm', 'worker-heartbeat', 0, { active: 0 }), 0);
  w.apply(ev('shap-vm-2@vm', 'worker-heartbeat', 0, { active: 0 }), 0);
  w.apply(ev('celery@other', 'worker-heartbeat', 0, { active: 0 }), 0);
  assert.deepEqual(w.unsorted(), ['celery@other']);
  assert.deepEqual(w.replicas().map((r) => [r.id, r.pool]), [['shap-gpu-vm-1@vm', 'shap-gpu'], ['shap-vm-2@vm', 'shap']]);
  w.setQueues(new Map([['celery@other', ['gpu', 'misc']]]));
  w.setConcurrency(new Map([['celery@other', 8]]));
  assert.deepEqual(w.replicas().find((r) => r.id === 'celery@other'), {
    id: 'celery@other', pool: 'shap-gpu', host: 'other', pid: 7, state: 'idle', startedAt: 0, lastActivity: 0, jobsDone: 0, running: 0, concurrency: 8,
  });
  assert.deepEqual(w.unsorted(), []);
  // A worker of another app on the same broker is asked once, not at every pass.
  w.apply(ev('billing@h2', 'worker-heartbeat', 0, { active: 0 }), 0);
  assert.deepEqual(w.unsorted(), ['billing@h2']);
  w.setQueues(new Map([['billing@h2', ['invoices']]]));
  assert.deepEqual(w.unsorted(), []);
  assert.equal(w.replicas().some((r) => r.id === 'billing@h2'), false);
});

test('worker table: a worker that goes silent is gone after two heartbeat intervals, and its tasks are orphans; one that says goodbye leaves none', () => {
  const w = new CeleryWorkers([{ name: 'shap', queues: ['shap'], concurrency: 2 }]);
  w.apply(ev('shap-1@vm', 'worker-heartbeat', 0, { freq: 2, active: 0 }), 0);
  w.apply(ev('shap-2@vm', 'worker-heartbeat', 0, { freq: 2, active: 0 }), 0);
  w.apply(ev('shap-1@vm', 'task-received', 0.1, { uuid: 'a' }), 100);
  w.apply(ev('shap-1@vm', 'task-started', 0.1, { uuid: 'a' }), 100);
  w.apply(ev('shap-2@vm', 'task-received', 0.1, { uuid: 'b' }), 100);
  w.apply(ev('shap-2@vm', 'worker-offline', 0.2), 200);
  assert.deepEqual(w.expire(5_900), ['shap-2@vm']);
  assert.deepEqual(w.takeOrphans(), [], 'a warm shutdown hands its own tasks back');
  assert.deepEqual(w.expire(6_200), ['shap-1@vm'], 'silent for 2 x 2 s + 2 s');
  assert.deepEqual(w.takeOrphans(), ['a']);
  assert.deepEqual(w.replicas(), []);
  assert.deepEqual(w.load('shap', new Map([['shap', { ready: 0, unacked: 1 }]]), 6_200, 0), { waiting: 1, running: 0, delayedDue: 0 }, 'its unacknowledged task still counts');
});

test('worker table: counters per pool label: arrivals once per task id, waits from task-sent when the app sends it, service times, outcomes', () => {
  const w = new CeleryWorkers([{ name: 'shap', queues: ['shap', 'causal'], concurrency: 2 }]);
  const a = 'shap-1@vm';
  w.apply(ev('client@web', 'task-sent', 10, { uuid: 'k' }), 0);
  w.apply(ev(a, 'task-received', 12, { uuid: 'k' }), 0);
  w.apply(ev(a, 'task-started', 13, { uuid: 'k' }), 0);
  w.apply(ev(a, 'task-succeeded', 14.5, { uuid: 'k', runtime: 1.5 }), 0);
  w.apply(ev(a, 'task-received', 20, { uuid: 'f' }), 0);
  w.apply(ev(a, 'task-started', 20.5, { uuid: 'f' }), 0);
  w.apply(ev(a, 'task-failed', 23.5, { uuid: 'f' }), 0);
  // A task delivered again (its worker died) is one arrival.
  w.apply(ev(a, 'task-received', 30, { uuid: 'f' }), 0);
  const t = w.takeTallies().get('shap+causal')!;
  assert.deepEqual({ submitted: t.submitted, completed: t.completed, failed: t.failed, waits: t.waits, waitMs: t.waitMs, serviceMs: t.serviceMs },
    { submitted: 2, completed: 1, failed: 1, waits: 2, waitMs: 3_500, serviceMs: 4_500 });
  assert.equal(w.takeTallies().size, 0, 'taken once');
});

const recorded = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/celery/recorded-redis.json'), 'utf8')) as Record<string, string>;

test('kombu wire shapes: events and replies as a real worker sends them, and a request it answered', () => {
  const hb = openEnvelope(recorded['worker.heartbeat'])!;
  assert.deepEqual(eventsOf(hb.body).map((e) => [e.type, e.hostname, e.active, e.freq]), [['worker-heartbeat', 'probe-1@vm', 1, 2]]);
  const multi = eventsOf(openEnvelope(recorded['task.multi:task-succeeded'])!.body);
  assert.deepEqual(multi.map((e) => [e.type, typeof e.runtime]), [['task-succeeded', 'number']]);
  const reply = openEnvelope(recorded['pidbox-reply'])!;
  const answer = replyOf(reply.body, reply.headers, recorded['pidbox-reply-ticket'])!;
  assert.deepEqual((answer['probe-1@vm'] as { name: string }[]).map((q) => q.name).sort(), ['a', 'b']);
  assert.equal(replyOf(reply.body, reply.headers, 'another ticket'), undefined, 'a reply to another request is not ours');
  // What Trireme publishes has the shape of what Celery's own client published (recorded), and a worker answered it
  // (the recorded reply above answers a request sealed by sealEnvelope).
  const ours = JSON.parse(sealEnvelope(controlBody(controlRequest('active_queues', {}, undefined, 'oid')), 'celery.pidbox', '', { clock: 1, expires: 1 }));
  const theirs = JSON.parse(recorded['pidbox-request']);
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
  assert.deepEqual(Object.keys(ours.properties).sort(), Object.keys(theirs.properties).sort());
  assert.deepEqual(Object.keys(openEnvelope(JSON.stringify(ours))!.body as object).sort(), Object.keys(openEnvelope(recorded['pidbox-request'])!.body as object).sort());
});

test('simulate: a trace names a Celery pool\'s queues, and the same planning pass scales it', async () => {
  const { simulate } = await import('../../src/sim/engine.js');
  const { ownPolicy } = await import('../../src/sim/policies.js');
  const { parseTrace } = await import('../../src/sim/trace.js');
  const project = await buildProject({
    pools: {
      shap: { celery, concurrency: 2, scaling: { min: 0, max: 4, targetBacklogPerSlot: 2, idleShutdown: '20s', cooldownDown: '5s', stabilization: 0 } },
      light: { queues: ['default'] },
    },
  }, { baseDir: ROOT, tasks: false });
  const lines = ['t_seconds,task,service_seconds,queue', ...Array.from({ length: 60 }, (_, i) => `${(0.5 + i * 0.01).toFixed(2)},shap.explain,${(0.5 + (i % 6) / 2).toFixed(1)},${i % 2 ? 'causal' : 'shap'}`)];
  const trace = parseTrace(lines.join('\n'));
  const r = simulate(project.config, project.router, trace, ownPolicy(project.config));
  assert.equal(r.pools.shap.jobs, 60);
  assert.equal(r.pools.shap.peakReplicas, 4);
  assert.equal(r.pools.light.jobs, 0);
  // No wake on submit (Celery's client announces nothing): the next pass, at 2 s, sees the whole burst.
  assert.equal(r.events[0].t, 2_000);
  assert.equal(r.events[0].reason, 'shap: load 60 at 2/slot -> 15, max 4, 0 -> 4');
});
