/**
 * Redis Cluster, for real on loopback: three primaries with a replica each (`redis-cli --cluster create`), the
 * three-tier example served on a redis+cluster:// URL. Its ten queues spread over the shards (each under its own hash
 * tag), 5 000 jobs are submitted across them (acknowledged once a replica holds each: waitForReplicas 1), and the
 * primary that holds Trireme's own keys (lease, registry, counters) is killed with -9 mid-run. Its replica is promoted,
 * every job completes, and not one command crossed slots: CROSSSLOT is counted in every node's error statistics and
 * in the log of serve and its replicas.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, fixtureProject, waitFor } from '../helpers.js';
import { direct, startCluster, stopAllRedis, type RedisProcess } from '../redis-setups.js';
import { reapAll, run, trireme } from './procs.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { PoolWorker } from '../../src/replica/pool-worker.js';
import { keys } from '../../src/redis/keys.js';

const CONFIG = join(ROOT, 'examples/three-tier/trireme.yml');
const JOBS = 5000;
const RATE = 150;
/** Task names by tier, as the example routes them: mostly light work, some medium, a little heavy. */
const TASKS = [
  ...['api.ping', 'notify.send', 'cache.refresh'].flatMap((t) => Array(7).fill(t)),
  ...['reports.daily', 'analytics.rollup', 'aggregate.metrics'].flatMap((t) => Array(2).fill(t)),
  'shap.explain', 'causal.refute', 'ml.train', 'twins.generate',
];

after(async () => { await reapAll(); await stopAllRedis(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CROSSSLOT errors one node has answered (INFO errorstats), or undefined once it is gone. */
async function crossslots(node: RedisProcess): Promise<number | undefined> {
  if (!node.alive()) return undefined;
  const r = direct(node.port);
  try { return Number(/errorstat_CROSSSLOT:count=(\d+)/.exec(await r.info('errorstats'))?.[1] ?? 0); } catch { return undefined; } finally { r.disconnect(); }
}

test('Cluster: the three-tier example over three shards, 5 000 jobs, a primary killed with -9 and replaced by its replica; every job completes, no CROSSSLOT anywhere', { timeout: 600_000 }, async () => {
  const cluster = await startCluster({ primaries: 3, replicasPer: 1, nodeTimeoutMs: 2000 });
  const env = { TRIREME_REDIS_URL: cluster.url, TRIREME_LOCK_DURATION: '4s', TRIREME_STALLED_INTERVAL: '2s', TRIREME_LOG_FORMAT: 'json' };
  const serve = trireme(['-c', CONFIG, 'serve', '--port', '0', '--grace', '5s'], env);
  await waitFor(() => /dashboard and API at/.test(serve.output()), 60_000, 'serve to listen');
  const project = await loadProject(CONFIG, env, { tasks: false });
  const client = new TriremeClient({ ...project, config: { ...project.config, redis: { ...project.config.redis, waitForReplicas: 1 } } }, cluster.url);
  try {
    // Where the queues live, as doctor reports it: on at least two of the three shards.
    const doctor = await run(['-c', CONFIG, 'doctor'], env);
    const placement = /^ok\s+cluster\s+3 primaries, cluster_state ok; queues by primary \([^)]*\): (.*)$/m.exec(doctor.out)?.[1];
    assert.ok(placement, doctor.out);
    const shards = new Map(placement.split('; ').map((s) => { const [node, qs] = s.split(': '); return [node, qs.split(', ')]; }));
    assert.ok(shards.size >= 2, `the queues are spread over at least two shards: ${placement}`);
    assert.equal([...shards.values()].flat().length, 10);
    assert.match(doctor.out, /^ok\s+redis replicas\s+1 or more replica\(s\) per primary/m, doctor.out);

    // The victim: the primary that serves Trireme's own keys (every replica's heartbeat, the lease, the counters).
    await new Promise<void>((resolve) => (client.redis.status === 'ready' ? resolve() : client.redis.once('ready', () => resolve())));
    const ownSlot = Number(await client.redis.cluster('KEYSLOT', client.keyspace.own));
    const victimAddress = (client.redis as unknown as { slots: string[][] }).slots[ownSlot][0];
    const victim = cluster.nodes.find((n) => n.address === victimAddress)!;
    const victimQueues = shards.get(victimAddress) ?? [];

    const ids = new Map<number, string>();
    let retries = 0;
    let killAt = 0;
    let victimCrossslots = 0;
    let recovered: Promise<string[]> | undefined;
    let promotedAfter = 0;
    const started = Date.now();
    let next = 0;
    const submitter = async () => {
      while (next < JOBS) {
        const i = next++;
        if (i === Math.floor(JOBS * 0.4) && !killAt) {
          victimCrossslots = (await crossslots(victim)) ?? 0;
          await victim.kill();
          killAt = Date.now();
          recovered = (async () => {
            const p = await waitFor(async () => { const x = await cluster.primaries(); return x.length === 3 && !x.includes(victimAddress) ? x : undefined; }, 60_000, 'the replica of the killed primary to be promoted');
            promotedAfter = Date.now() - killAt;
            // Its supervisor brings the dead server back: it rejoins as the new primary's replica, and submits to
            // that shard can be acknowledged on a replica again (meanwhile they are refused, and retried).
            await victim.restart();
            return p;
          })();
        }
        const due = started + (i / RATE) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
        const task = TASKS[i % TASKS.length];
        for (;;) {
          try {
            ids.set(i, (await client.submit(task, { ms: 1 }, { idempotencyKey: `cluster:${i}` })).id);
            break;
          } catch {
            retries++;
            await sleep(100);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, submitter));
    const submittedIn = (Date.now() - started) / 1000;
    const primaries = await recovered!;

    const queues = Object.values(project.config.pools).flatMap((p) => p.queues);
    const pending = async () => {
      let n = 0;
      for (const q of queues) n += Object.values(await client.queue(q).getJobCounts('wait', 'active', 'delayed', 'prioritized')).reduce((a, b) => a + b, 0);
      return n;
    };
    await waitFor(async () => (await pending()) === 0, 300_000, 'every queue to empty');

    const states: Record<string, number> = {};
    const missing: string[] = [];
    for (const [, id] of ids) {
      const job = await client.getJob(id);
      if (!job) { missing.push(id); continue; }
      states[job.state] = (states[job.state] ?? 0) + 1;
    }
    const nodeCrossslots = victimCrossslots + (await Promise.all(cluster.nodes.map(crossslots))).reduce<number>((a, b) => a + (b ?? 0), 0);
    const logCrossslots = serve.output().split('\n').filter((l) => /CROSSSLOT/.test(l)).length;
    console.log([
      ['jobs submitted', `${JOBS} in ${submittedIn.toFixed(1)} s (${retries} submits retried)`],
      ['queues by primary', placement],
      ['killed -9', `${victimAddress} (Trireme's own keys${victimQueues.length ? ` and ${victimQueues.join(', ')}` : ''}) after ${Math.floor(JOBS * 0.4)} submits`],
      ['replica promoted after', `${(promotedAfter / 1000).toFixed(1)} s; primaries now ${primaries.join(', ')}`],
      ['jobs by state', JSON.stringify(states)],
      ['lost (acknowledged, not found)', missing.length],
      ['CROSSSLOT: nodes / serve and replica logs', `${nodeCrossslots} / ${logCrossslots}`],
    ].map(([k, v]) => `${String(k).padEnd(42)} ${v}`).join('\n'));

    assert.equal(ids.size, JOBS);
    assert.deepEqual(missing, []);
    assert.deepEqual(states, { completed: JOBS });
    assert.equal(nodeCrossslots, 0, 'no command crossed slots (INFO errorstats)');
    assert.equal(logCrossslots, 0, 'no CROSSSLOT in the log of serve and its replicas');
    assert.equal(serve.child.exitCode, null, 'serve went on');
  } finally {
    await reapAll();
    await client.close();
    await cluster.stop();
  }
});

test('Cluster: job history\'s outbox scripts (run notes and records, several keys a call) and a result awaited through QueueEvents, without CROSSSLOT', { timeout: 120_000 }, async () => {
  const cluster = await startCluster({ primaries: 3, replicasPer: 1 });
  // History on: a replica writes run records to Redis (the PostgreSQL URL is the recorder's, not started here).
  const project = await fixtureProject({ queues: ['work', 'other'], concurrency: 4 }, { history: { postgres: 'postgres://trireme@127.0.0.1:1/none' } });
  const client = new TriremeClient(project, cluster.url);
  const worker = new PoolWorker({ project, pool: 'main', redisUrl: cluster.url });
  try {
    await worker.start();
    const jobs = await Promise.all(Array.from({ length: 40 }, (_, i) => client.submit('fx.echo', { value: i }, { queue: i % 2 ? 'other' : 'work' })));
    const results = await Promise.all(jobs.map((j) => client.waitFor(j.id, 60_000) as Promise<{ echoed: number }>));
    assert.deepEqual(results.map((r) => r.echoed), jobs.map((_, i) => i));
    const runs = keys.historyRuns(client.keyspace.own);
    assert.equal(runs, `{${project.config.prefix}}:~history-runs`);
    await waitFor(async () => (await client.redis.llen(runs)) === 40, 10_000, 'a run record per job in the outbox');
    const notes = await Promise.all(jobs.map((j) => client.redis.exists(keys.openRun(client.keyspace.own, j.id))));
    assert.deepEqual(notes.filter(Boolean), [], 'every run note removed with its record');
    const errors = await cluster.errorstats();
    assert.equal(errors.CROSSSLOT ?? 0, 0, JSON.stringify(errors));
  } finally {
    await worker.drain(5_000).catch(() => {});
    await client.close();
    await cluster.stop();
  }
});
