/**
 * The Celery pool scenario of issue 21, run against each broker (celery-redis.test.ts, celery-amqp.test.ts): a real
 * `trireme serve` with the local driver, real Celery workers (Debian's python3-celery under /usr/bin/python3), tasks
 * sent by Celery's own client (apply_async, some with priorities) into a pool at zero. The fixture tasks record their
 * start and end outside the broker (test/fixtures/celery/celery_fixture.py), so that a task run twice or cut off
 * mid-run shows.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ROOT, seeded, waitFor } from '../helpers.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { run, trireme, type Proc } from './procs.js';
import { loadProject } from '../../src/project/project.js';
import { Inspector } from '../../src/control/inspect.js';
import { Metrics } from '../../src/api/metrics.js';

export const PYTHON = '/usr/bin/python3';

/** Why the scenario cannot run here (Debian's Celery missing), or undefined. */
export function celeryMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import celery, redis'], { stdio: 'ignore' });
  return r.status === 0 ? undefined : 'python3-celery and python3-redis are not installed for /usr/bin/python3 (apt-get install python3-celery python3-redis; .ci/run does)';
}

interface Rec { task: number; what: 'start' | 'end'; worker: string; pid: number; t: number }

export interface Scenario {
  dir: string;
  /** Trireme's own Redis, and Celery's broker. */
  url: string;
  broker: string;
  /** The file the fixture tasks record their start and end in. */
  record: string;
  serve: Proc;
  redis: Redis;
  prefix: string;
  records(): Rec[];
  /** Sends [task_no, seconds, priority] with Celery's apply_async. */
  send(tasks: [number, number, number | null][]): void;
  /** Processes whose working folder is the project's (the pool's Celery workers and their children). */
  processes(): number[];
}

/** A project folder with the fixture app and a config whose one pool, `shap`, is a Celery pool on `broker`. */
export function startScenario(trRedisUrl: string, broker: string): Scenario {
  const dir = mkdtempSync(join(tmpdir(), 'trireme-celery-'));
  for (const f of ['celery_fixture.py', 'send.py']) copyFileSync(join(ROOT, 'test/fixtures/celery', f), join(dir, f));
  const prefix = `c${Math.random().toString(36).slice(2, 8)}`;
  const record = join(dir, 'record.jsonl');
  writeFileSync(join(dir, 'trireme.yml'), `
prefix: ${prefix}
controller: { interval: 1s }
capacity: { overcommit: 8 }
pools:
  shap:
    celery:
      broker: ${JSON.stringify(broker)}
      app: celery_fixture
      queues: [shap]
      python: ${PYTHON}
    concurrency: 2
    drainGrace: 30s
    resources: { cpu: 0.25, memory: 128Mi }
    env: { CELERY_RECORD: ${JSON.stringify(record)} }
    scaling: { min: 0, max: 4, targetBacklogPerSlot: 2, cooldownDown: 1s, stabilization: 0, idleShutdown: 6s, startupTime: 4s }
`);
  const serve = trireme(['-c', join(dir, 'trireme.yml'), 'serve', '--no-api', '--grace', '40s', '--record', join(dir, 'passes.jsonl')], {
    TRIREME_REDIS_URL: trRedisUrl, TRIREME_LOG_FORMAT: 'json',
  });
  const redis = new Redis(trRedisUrl);
  return {
    dir, url: trRedisUrl, broker, record, serve, redis, prefix,
    records: () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec) : []),
    send(tasks) {
      const out = execFileSync(PYTHON, [join(dir, 'send.py')], { cwd: dir, input: JSON.stringify(tasks.map(([n, s, p]) => [n, s, p, 'shap'])), env: { ...process.env, CELERY_BROKER_URL: broker } });
      assert.match(out.toString(), /sent/);
    },
    processes: () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
      try { return readlinkSync(`/proc/${pid}/cwd`) === dir; } catch { return false; }
    }).map(Number),
  };
}

/** Serve's JSON log lines with a message, parsed. */
const logLines = (s: Scenario, msg: string) => s.serve.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.msg === msg);

/**
 * The whole scenario of the "Done when", against one broker. `handsBack`: Trireme hands a dead worker's
 * unacknowledged tasks back itself (Redis: kombu would wait for visibility_timeout); RabbitMQ requeues them itself.
 */
export async function runScenario(s: Scenario, o: { handsBack: boolean }): Promise<void> {
  const store = new ControlStore(s.redis, s.prefix);
  const registry = new ReplicaRegistry(s.redis, s.prefix);
  await waitFor(() => /trireme serve running/.test(s.serve.output()), 60_000, `serve to start: ${s.serve.output().slice(-2000)}`);

  // 60 tasks of 0.5 to 3 s, a third of them with a priority, into the pool at zero; the last sent are the longer
  // ones, so that the backlog is gone while several still run (the load falls before the work is done).
  const rand = seeded(21);
  const tasks = Array.from({ length: 60 }, (_, i): [number, number, number | null] => [i, Math.round((i < 44 ? 0.5 + rand() * 1.5 : 2 + rand()) * 100) / 100, i % 3 === 0 ? (i % 2 ? 0 : 9) : null]);
  s.send(tasks);
  const done = (n: number) => s.records().filter((r) => r.what === 'end' && r.task < n).length;
  await waitFor(() => done(60) >= 60, 240_000, `60 tasks to finish (${done(60)} so far): ${s.serve.output().slice(-3000)}`);

  // Every task ran once, start to end, on one worker: none was cut off, none ran twice.
  const recs = s.records();
  for (let i = 0; i < 60; i++) {
    const mine = recs.filter((r) => r.task === i);
    assert.deepEqual(mine.map((r) => r.what), ['start', 'end'], `task ${i} ran once from start to end: ${JSON.stringify(mine)}`);
    assert.equal(mine[0].worker, mine[1].worker);
  }

  // The pool woke on the first pass that saw a task, with every task counted (priority levels included), and grew to its max.
  const passes = readFileSync(join(s.dir, 'passes.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"plans"')).map((l) => JSON.parse(l));
  const shapOf = (p: any) => ({ input: p.input.pools.find((x: any) => x.pool === 'shap'), plan: p.plans.find((x: any) => x.pool === 'shap') });
  const first = passes.map(shapOf).find((x) => x.input?.load && x.input.load.waiting + x.input.load.running > 0);
  assert.ok(first, 'a pass saw the tasks');
  assert.equal(first.plan?.action?.type, 'start', `the first pass that saw work started replicas: ${JSON.stringify(first)}`);
  assert.equal(Math.max(...passes.map((p) => shapOf(p).input?.load?.waiting ?? 0)), 60, 'all 60 tasks read as waiting while the pool was at zero');
  const events = (await store.events(200)).filter((e) => e.pool === 'shap').reverse();
  const lastStart = Math.max(...recs.filter((r) => r.what === 'start').map((r) => r.t * 1000));
  const lastEnd = Math.max(...recs.filter((r) => r.what === 'end').map((r) => r.t * 1000));
  assert.ok(events.some((e) => e.to === 4 && e.at < lastStart), `grew to 4 while the backlog lasted: ${JSON.stringify(events)}`);
  // The scale events read like any pool's.
  assert.match(events[0].reason, /^shap: load \d+ at 2\/slot -> \d+.*, 0 -> [1-4]$/);

  // The load fell while tasks still ran and the pool scaled in; the replicas it stopped were idle then (the pass
  // that chose them; quiescing them, then the driver's signal, come right after).
  const downs = passes.map((p) => ({ time: p.input.now as number, plan: shapOf(p).plan })).filter((d) => d.plan?.action?.type === 'stop')
    .map((d) => ({ time: d.time, victims: d.plan.action.replicas as string[] }));
  assert.ok(downs.some((d) => d.time < lastEnd), `a scale-in while tasks still ran: ${JSON.stringify(downs)} (last end ${lastEnd})`);
  for (const d of downs) {
    for (const victim of d.victims) {
      const busy = recs.filter((r) => r.worker.startsWith(`${victim}@`) && r.what === 'start').filter((r) => {
        const end = recs.find((e) => e.task === r.task && e.what === 'end');
        return r.t * 1000 <= d.time && (!end || end.t * 1000 >= d.time);
      });
      assert.deepEqual(busy.map((r) => r.task), [], `replica ${victim} was idle when it was stopped at ${d.time}`);
    }
  }
  assert.doesNotMatch(s.serve.output(), /shutdown grace over/, 'no worker needed its cold shutdown');

  // The faces: status names the kind, /metrics counts its tasks, the jobs views say where they are listed, and
  // Trireme's client sends nothing to its queue.
  const config = join(s.dir, 'trireme.yml');
  const env = { TRIREME_REDIS_URL: s.url };
  assert.match((await run(['-c', config, 'status'], env)).out, /^shap \(celery\) /m);
  const project = await loadProject(config, env, { tasks: false });
  // The workers' last events reach Redis with the controller's next pass.
  const render = () => new Metrics({ inspector: new Inspector(project, s.redis), isLeader: () => false }).render();
  const metrics = await waitFor(async () => { const m = await render(); return /^trireme_jobs_total\{queue="shap",outcome="completed"\} 60$/m.test(m) ? m : undefined; }, 10_000, 'the 60 completions in /metrics');
  assert.match(metrics, /^trireme_jobs_submitted_total\{queue="shap"\} 60$/m);
  assert.match(metrics, /^trireme_job_duration_seconds_count\{queue="shap"\} 60$/m);
  const jobs = await run(['-c', config, 'jobs', '--pool', 'shap'], env);
  assert.equal(jobs.code, 2);
  assert.match(jobs.out, /pool "shap": a Celery pool's tasks are listed by Celery's own tools/);
  const submit = await run(['-c', config, 'submit', 'fixture.work', '--queue', 'shap', '--data', '{}'], env);
  assert.notEqual(submit.code, 0);
  assert.match(submit.out, /queue "shap" belongs to the celery pool "shap", whose tasks are sent with its own client/);

  // idleShutdown: the pool at zero, no Celery process of it left, nothing of it in the registry.
  await waitFor(async () => s.processes().length === 0 && (await registry.list('shap')).length === 0, 60_000, `the pool to go to zero (processes: ${s.processes()})`);
  const last = (await store.events(1))[0];
  assert.equal(last.to, 0, `the last event took the pool to zero: ${JSON.stringify(last)}`);

  // A replica killed with kill -9 mid-task: acks_late, so the task runs again on another worker and completes.
  s.send([[100, 4, null], [101, 4, null], [102, 4, null]]);
  const started = await waitFor(() => s.records().find((r) => r.task >= 100 && r.what === 'start'), 60_000, 'a task of the second batch to start');
  const victim = await waitFor(async () => (await registry.list('shap')).find((r) => r.id === started.worker), 10_000, `${started.worker} in the registry`);
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(() => s.records().some((r) => r.task === started.task && r.what === 'end' && r.worker !== started.worker), 120_000,
    `task ${started.task} to run again elsewhere and complete: ${JSON.stringify(s.records().filter((r) => r.task >= 100))}`);
  await waitFor(() => [100, 101, 102].every((n) => s.records().some((r) => r.task === n && r.what === 'end')), 60_000, 'the second batch to finish');
  assert.ok(!s.records().some((r) => r.task === started.task && r.what === 'end' && r.worker === started.worker), 'the killed worker did not finish it');
  assert.equal(logLines(s, 'a worker died holding tasks it had not acknowledged: they go back to their queue').length > 0, o.handsBack, 'who handed the task back');

  // A worker Trireme did not start, consuming the pool's queue: the pool's (from remote control's active_queues),
  // counted as its capacity, never stopped, even idle past idleShutdown with the pool's min at 0.
  const outsider = spawn(PYTHON, ['-m', 'celery', '-A', 'celery_fixture', 'worker', '-Q', 'shap', '-c', '1', '-n', 'outsider@%h', '-E', '--without-mingle', '--without-gossip'], {
    cwd: s.dir, env: { ...process.env, CELERY_BROKER_URL: s.broker, CELERY_RECORD: s.record }, stdio: 'ignore',
  });
  try {
    const seen = await waitFor(async () => (await registry.list('shap')).find((r) => r.id.startsWith('outsider@')), 60_000, 'the outside worker among the pool\'s');
    const since = Date.now();
    await waitFor(async () => { const d = (await store.decisions()).shap; return d.at > since + 9_000 && d.current === 1 && d; }, 60_000, 'passes past idleShutdown counting it');
    assert.equal(outsider.exitCode, null, 'it still runs');
    assert.ok(!logLines(s, 'scale down').some((d) => (d.victims as string[]).some((v) => seen.id.startsWith(v))), 'it was never a victim');
  } finally {
    outsider.kill('SIGTERM');
    await new Promise((done) => (outsider.exitCode !== null ? done(undefined) : outsider.once('exit', done)));
  }
}
