/**
 * Redis with Sentinel, for real on loopback (Debian's redis-server and redis-sentinel: a primary, two replicas, three
 * sentinels): `serve` and its replicas run on a redis+sentinel:// URL while 3 000 jobs are submitted at a steady rate,
 * half by a client with `redis.waitForReplicas: 1` and half by one without, and the primary is killed with -9
 * mid-run. Sentinel promotes a replica; serve and the same replicas go on without a restart; every job acknowledged
 * with waitForReplicas completes. The run reports what a failover cost: jobs lost without waitForReplicas (Redis
 * replicates asynchronously), jobs run twice, and the seconds from the kill to the first job started after it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, alive, waitFor } from '../helpers.js';
import { direct, startSentinelSet, stopAllRedis } from '../redis-setups.js';
import { reapAll, run, trireme } from './procs.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';

const CONFIG = join(ROOT, 'test/fixtures/failover.yml');
const JOBS = 3000;
/** Jobs per second, all submitters together. */
const RATE = 150;

after(async () => { await reapAll(); await stopAllRedis(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('Sentinel: the primary killed with -9 under 3 000 jobs; serve and its replicas follow the new primary, and no job acknowledged with waitForReplicas is lost', { timeout: 600_000 }, async () => {
  const set = await startSentinelSet({ replicas: 2, downAfterMs: 1000 });
  const dir = mkdtempSync(join(tmpdir(), 'trireme-sentinel-run-'));
  const runsFile = join(dir, 'runs.log');
  writeFileSync(runsFile, '');
  // Short locks, as in the chaos suite: a job whose lock the failover lost comes back in seconds.
  const env = { TRIREME_REDIS_URL: set.url, TRIREME_LOCK_DURATION: '4s', TRIREME_STALLED_INTERVAL: '2s', TRIREME_LOG_FORMAT: 'json' };
  const serve = trireme(['-c', CONFIG, 'serve', '--grace', '5s'], env);
  const base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 60_000, 'serve to print its address');
  const project = await loadProject(CONFIG, env);
  const kept = new TriremeClient({ ...project, config: { ...project.config, redis: { ...project.config.redis, waitForReplicas: 1, waitTimeout: 2_000 } } }, set.url);
  const plain = new TriremeClient(project, set.url);
  const registry = new ReplicaRegistry(plain.redis, project.config.prefix);
  try {
    const replicasBefore = await waitFor(async () => { const r = await registry.list('light'); return r.length === 2 ? r : undefined; }, 60_000, 'the two replicas');
    const oldPrimary = await set.currentPrimary();
    const health = await (await fetch(`${base}/healthz`)).json() as { redis: { mode: string; primary: string; master: string } };
    assert.deepEqual(health.redis, { mode: 'sentinel', primary: oldPrimary, master: set.master });

    // A master name the sentinels do not know, and a Cluster URL on this plain primary: said at once, with the fix.
    const unknown = await run(['-c', CONFIG, 'status'], { ...env, TRIREME_REDIS_URL: set.url.replace(/\/trireme$/, '/nope') });
    assert.equal(unknown.code, 1, unknown.out);
    assert.match(unknown.out, /Redis does not answer at redis\+sentinel:\/\/\S+\/nope \(sentinel 127\.0\.0\.1:\d+: ERR No such master with that name\)\. Check that the sentinels run there and monitor this master name/);
    const notCluster = await run(['-c', CONFIG, 'status'], { ...env, TRIREME_REDIS_URL: `redis+cluster://${oldPrimary}` });
    assert.equal(notCluster.code, 1, notCluster.out);
    assert.match(notCluster.out, /Redis does not answer at redis\+cluster:\/\/\S+ \(.*cluster support disabled.*\)\. Check that the cluster nodes run there with cluster-enabled yes/);

    const doctor = await run(['-c', CONFIG, 'doctor'], env);
    assert.match(doctor.out, new RegExp(`^ok\\s+redis\\s+\\d+\\.\\d+\\.\\d+ at redis\\+sentinel://\\S+, primary ${oldPrimary}$`, 'm'), doctor.out);
    assert.match(doctor.out, /^ok\s+sentinel\s+3 sentinel\(s\) monitor "trireme" \(quorum 2\), primary \S+, 2 replica\(s\)$/m, doctor.out);
    assert.match(doctor.out, /^ok\s+redis persistence\s+AOF on \(appendfsync everysec\)$/m, doctor.out);

    // The submitters: paced, 16 in flight; a submit that fails (Redis away, or not confirmed on a replica) is retried
    // with the same idempotency key, as a careful client does. Even jobs go through `kept`, odd ones through `plain`.
    const acked = new Map<number, { id: string; kept: boolean }>();
    let retries = 0;
    let notReplicated = 0;
    let killAt = 0;
    let lagBytes = 0;
    const started = Date.now();
    let next = 0;
    const submitter = async () => {
      while (next < JOBS) {
        const i = next++;
        if (i === Math.floor(JOBS * 0.4) && !killAt) {
          // How far the replicas were behind the instant before: what a failover can lose without waitForReplicas.
          const r = direct(set.primary.port);
          const info = await r.info('replication').finally(() => r.disconnect());
          const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
          lagBytes = Math.max(...[...info.matchAll(/slave\d+:.*offset=(\d+)/g)].map((m) => offset - Number(m[1])));
          await set.primary.kill();
          killAt = Date.now();
        }
        const due = started + (i / RATE) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
        const client = i % 2 === 0 ? kept : plain;
        for (;;) {
          try {
            const { id } = await client.submit('chaos.light', { i, ms: 5 + (i % 20), runs: runsFile }, { idempotencyKey: `failover:${i}` });
            acked.set(i, { id, kept: client === kept });
            break;
          } catch (e) {
            retries++;
            if ((e as Error).name === 'NotReplicatedError') notReplicated++;
            await sleep(100);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, submitter));
    const submittedIn = (Date.now() - started) / 1000;
    const newPrimary = await waitFor(async () => { const p = await set.currentPrimary(); return p !== oldPrimary ? p : undefined; }, 60_000, 'Sentinel to promote a replica');

    // Settled: nothing waiting, delayed or running.
    const queue = plain.queue('light');
    await waitFor(async () => {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
      return Object.values(c).every((n) => n === 0);
    }, 300_000, 'the queue to empty');

    // The verdict, job by job: a job acknowledged and not found (or not completed) was lost.
    const lost = { kept: [] as string[], plain: [] as string[] };
    const notCompleted: string[] = [];
    for (const [, a] of acked) {
      const job = await plain.getJob(a.id);
      if (!job) (a.kept ? lost.kept : lost.plain).push(a.id);
      else if (job.state !== 'completed') notCompleted.push(`${a.id}:${job.state}:${job.error ?? ''}`);
    }
    const starts = new Map<string, number>();
    let firstAfterKill = Infinity;
    for (const line of readFileSync(runsFile, 'utf8').split('\n')) {
      const [kind, id, , , at] = line.split(' ');
      if (kind !== 'S') continue;
      starts.set(id, (starts.get(id) ?? 0) + 1);
      if (Number(at) > killAt) firstAfterKill = Math.min(firstAfterKill, Number(at));
    }
    const ranTwice = [...starts.values()].filter((n) => n > 1).length;
    const report = [
      ['jobs submitted (acknowledged)', `${JOBS} (${acked.size}) in ${submittedIn.toFixed(1)} s`],
      ['primary', `${oldPrimary} killed -9 after ${Math.floor(JOBS * 0.4)} submits; ${newPrimary} promoted`],
      ['replicas behind the primary just before the kill (bytes)', lagBytes],
      ['submits retried (Redis away / not on a replica)', `${retries} (${notReplicated} not confirmed on a replica)`],
      ['lost, acknowledged with waitForReplicas: 1', lost.kept.length],
      ['lost, acknowledged without it', lost.plain.length],
      ['ran more than once', ranTwice],
      ['seconds from the kill to the first job started after it', ((firstAfterKill - killAt) / 1000).toFixed(1)],
    ];
    console.log(report.map(([k, v]) => `${String(k).padEnd(58)} ${v}`).join('\n'));

    assert.equal(acked.size, JOBS);
    assert.deepEqual(lost.kept, [], 'a job acknowledged with waitForReplicas: 1 was lost');
    assert.deepEqual(notCompleted, [], 'every job found completed');
    assert.ok(Number.isFinite(firstAfterKill), 'jobs ran after the kill');

    // No restart: the same serve, the same replica processes, under the same ids, on the new primary.
    assert.equal(serve.child.exitCode, null, serve.output().slice(-2000));
    const replicasAfter = await registry.list('light');
    assert.deepEqual(replicasAfter.map((r) => r.id).sort(), replicasBefore.map((r) => r.id).sort(), 'the same replicas before and after');
    for (const r of replicasBefore) assert.ok(alive(r.pid), `replica ${r.id} (pid ${r.pid}) still runs`);
    const healthAfter = await (await fetch(`${base}/healthz`)).json() as { redis: { primary: string } };
    assert.equal(healthAfter.redis.primary, newPrimary, '/healthz names the new primary');
    assert.match(serve.output(), new RegExp(`Redis primary changed: ${oldPrimary} -> ${newPrimary}`), 'serve logs the failover');
  } finally {
    await reapAll();
    await kept.close();
    await plain.close();
    await set.stop();
  }
});
