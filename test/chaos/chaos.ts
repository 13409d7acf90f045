/**
 * The chaos suite: thousands of jobs of mixed lengths across three pools while, at seeded random moments, replicas
 * are killed with SIGKILL or drained, the light pool recycles its replicas, Redis is SIGKILLed and restarted from its
 * AOF, and the leading `serve` is SIGKILLed (a second `serve`, standing by, takes over; a new one starts beside it).
 * Every run of a task is written to a file outside Redis. At the end: every job completed, or failed with a reason
 * after its retries; none lost, none left active; runs more than once counted; one job per idempotency key.
 *
 *   npm run test:chaos -- --jobs 5000 --seed 1      (the full size; test/integration/chaos.test.ts runs a CI size)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, waitFor, seeded, ROOT, type TestRedis } from '../helpers.js';
import { trireme, reapAll, type Proc } from '../integration/procs.js';
import { loadProject } from '../../src/project/project.js';
import { TriremeClient } from '../../src/jobs/client.js';
import { ReplicaRegistry } from '../../src/stores/registry.js';
import { Lease } from '../../src/stores/lease.js';

export const CHAOS_CONFIG = join(ROOT, 'test/chaos/chaos.yml');

export interface ChaosOptions { jobs: number; seed: number; log?: (line: string) => void }

export interface ChaosReport {
  jobs: number; seed: number; seconds: number;
  faults: Record<string, number>;
  completed: number; failed: number; failedReasons: Record<string, number>;
  lost: string[]; stuck: string[]; unfinished: string[];
  /** Jobs whose task began more than once / finished more than once (at-least-once delivery made visible). */
  ranTwice: number; finishedTwice: number;
  /** Completed jobs with no finished run on record (a result without a run would be a bug). */
  completedWithoutRun: string[];
  /** Idempotency keys that yielded more than one job id, or a resubmission answered with another id. */
  keyConflicts: string[];
  submitRetries: number; recycles: number; takeovers: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const rand = seeded(o.seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const dir = mkdtempSync(join(tmpdir(), 'trireme-chaos-'));
  const runsFile = join(dir, 'runs.log');
  writeFileSync(runsFile, '');
  const redis: TestRedis = await startRedis({ dir });
  const project = await loadProject(CHAOS_CONFIG, { TRIREME_REDIS_URL: redis.url });
  const client = new TriremeClient(project, redis.url);
  const registry = new ReplicaRegistry(client.redis, project.config.prefix);
  const lease = new Lease(client.redis, project.config.prefix, 'chaos', 1);
  // Short locks so that jobs of killed replicas come back in seconds (production: 30 s / 15 s).
  const env = { TRIREME_REDIS_URL: redis.url, TRIREME_LOCK_DURATION: '4s', TRIREME_STALLED_INTERVAL: '2s', TRIREME_LOG_FORMAT: 'json' };
  const serves: Proc[] = [];
  const startServe = () => { const s = trireme(['-c', CHAOS_CONFIG, 'serve', '--grace', '5s'], env); serves.push(s); return s; };
  const faults: Record<string, number> = { 'replica kill -9': 0, 'replica drain': 0, 'redis kill -9 + restart': 0, 'leader kill -9 + new serve': 0 };
  const started = Date.now();
  let takeovers = 0;
  try {
    startServe();
    startServe();
    await waitFor(async () => (await registry.list('light')).length >= 1, 60_000, 'the light pool at its min');

    // The submitter: paced, 16 in flight, each job under its own idempotency key; a submit refused while Redis is
    // away is retried with the same key, as a careful client does. One job in ten is submitted a second time.
    const ids = new Map<number, string>();
    const keyConflicts: string[] = [];
    let submitRetries = 0;
    const rate = Math.max(40, o.jobs / 40); // jobs per second
    const specs = Array.from({ length: o.jobs }, (_, i) => {
      const r = rand();
      const [task, ms] = r < 0.8 ? ['chaos.light', 5 + Math.floor(rand() * 45)]
        : r < 0.97 ? ['chaos.medium', 100 + Math.floor(rand() * 300)]
          : ['chaos.heavy', 300 + Math.floor(rand() * 1200)];
      return { i, task: task as string, ms: ms as number, again: rand() < 0.1 };
    });
    const submitOne = async (s: typeof specs[number]): Promise<string> => {
      for (;;) {
        try {
          return (await client.submit(s.task, { i: s.i, ms: s.ms, runs: runsFile }, { idempotencyKey: `chaos:${s.i}` })).id;
        } catch {
          submitRetries++;
          await sleep(100);
        }
      }
    };
    let next = 0;
    const submitter = async () => {
      while (next < specs.length) {
        const s = specs[next++];
        const due = started + (s.i / rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
        const id = await submitOne(s);
        ids.set(s.i, id);
        if (s.again) {
          const again = await submitOne(s);
          if (again !== id) keyConflicts.push(`chaos:${s.i}: ${id} then ${again}`);
        }
      }
    };
    const submitting = Promise.all(Array.from({ length: 16 }, submitter));

    // Faults, one every 1.5-4 s while jobs are being submitted: the first four are one of each kind in a seeded
    // order (so every run has each), the rest drawn at random.
    let submitted = false;
    void submitting.then(() => { submitted = true; });
    const firsts = [0.1, 0.5, 0.7, 0.9].sort(() => rand() - 0.5);
    while (!submitted) {
      await sleep(1500 + rand() * 2500);
      if (submitted) break;
      const r = firsts.shift() ?? rand();
      try {
        if (r < 0.4) {
          const rs = await registry.list();
          if (!rs.length) continue;
          const victim = pick(rs);
          process.kill(victim.pid, 'SIGKILL');
          faults['replica kill -9']++;
          log(`chaos: kill -9 replica ${victim.id}`);
        } else if (r < 0.6) {
          const rs = await registry.list();
          if (!rs.length) continue;
          const victim = pick(rs);
          process.kill(victim.pid, 'SIGTERM');
          faults['replica drain']++;
          log(`chaos: drain replica ${victim.id}`);
        } else if (r < 0.8) {
          await redis.kill();
          const down = 500 + rand() * 2000;
          log(`chaos: kill -9 redis, down ${Math.round(down)} ms`);
          await sleep(down);
          await redis.start();
          faults['redis kill -9 + restart']++;
        } else {
          const holder = await lease.currentHolder();
          const pid = Number(/-(\d+)-[0-9a-f]{6}$/.exec(holder ?? '')?.[1]);
          const leader = serves.find((s) => s.child.pid === pid && s.child.exitCode === null && s.child.signalCode === null);
          if (!leader) continue;
          leader.child.kill('SIGKILL');
          faults['leader kill -9 + new serve']++;
          log(`chaos: kill -9 leading serve ${pid}; starting another`);
          startServe();
          // The standby takes the lease within its TTL.
          await waitFor(async () => { const h = await lease.currentHolder(); return h && h !== holder; }, 60_000, 'a standby serve to take the lease');
          takeovers++;
        }
      } catch (e) {
        log(`chaos: fault skipped (${(e as Error).message})`);
      }
    }
    await submitting;
    log(`chaos: ${o.jobs} submitted in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for the queues to empty`);

    // Settle: no job waiting, delayed or active in any queue. Jobs of killed replicas come back as stalled first.
    const queues = ['light', 'medium', 'heavy'].map((q) => client.queue(q));
    const pending = async () => {
      let n = 0;
      for (const q of queues) {
        const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
        n += Object.values(c).reduce((a, b) => a + b, 0);
      }
      return n;
    };
    try {
      await waitFor(async () => (await pending()) === 0, 600_000, 'every queue to empty');
    } catch { /* reported below as unfinished / stuck */ }

    // The verdict, job by job.
    const runs = readFileSync(runsFile, 'utf8').split('\n');
    const startsOf = new Map<string, number>();
    const endsOf = new Map<string, number>();
    for (const line of runs) {
      const [kind, id] = line.split(' ');
      if (kind === 'S') startsOf.set(id, (startsOf.get(id) ?? 0) + 1);
      if (kind === 'E') endsOf.set(id, (endsOf.get(id) ?? 0) + 1);
    }
    const report: ChaosReport = {
      jobs: o.jobs, seed: o.seed, seconds: 0, faults, completed: 0, failed: 0, failedReasons: {},
      lost: [], stuck: [], unfinished: [], ranTwice: 0, finishedTwice: 0, completedWithoutRun: [], keyConflicts,
      submitRetries, recycles: 0, takeovers,
    };
    for (const [i, id] of ids) {
      const job = await client.getJob(id);
      if (!job) { report.lost.push(`${i}:${id}`); continue; }
      if ((job.payload as { i: number }).i !== i) report.keyConflicts.push(`chaos:${i}: job ${id} holds payload ${(job.payload as { i: number }).i}`);
      if (job.state === 'completed') {
        report.completed++;
        if (!endsOf.get(id)) report.completedWithoutRun.push(id);
      } else if (job.state === 'failed') {
        report.failed++;
        const reason = (job.error ?? '(no reason)').replace(/\d+/g, 'N').slice(0, 80);
        report.failedReasons[reason] = (report.failedReasons[reason] ?? 0) + 1;
      } else if (job.state === 'active') report.stuck.push(id);
      else report.unfinished.push(`${id}:${job.state}`);
      if ((startsOf.get(id) ?? 0) > 1) report.ranTwice++;
      if ((endsOf.get(id) ?? 0) > 1) report.finishedTwice++;
    }
    // One job per key: every job in every queue, grouped by the index its payload carries.
    const seen = new Map<number, string>();
    for (const q of queues) {
      for (const job of await q.getJobs(['completed', 'failed', 'active', 'wait', 'delayed', 'prioritized'], 0, -1)) {
        if (!job?.id || job.id.includes(':')) continue;
        const i = (job.data as { i: number }).i;
        const other = seen.get(i);
        if (other && other !== job.id) report.keyConflicts.push(`chaos:${i}: two jobs ${other} and ${job.id}`);
        seen.set(i, job.id);
      }
    }
    report.recycles = serves.reduce((n, s) => n + (s.output().match(/recycl/g)?.length ?? 0), 0);
    report.seconds = Math.round((Date.now() - started) / 1000);
    return report;
  } finally {
    await reapAll();
    await client.close();
    await redis.stop();
  }
}

/** The report as a table, for the console and docs/reliability.md. */
export function formatReport(r: ChaosReport): string {
  const rows: [string, string | number][] = [
    ['jobs submitted (seed)', `${r.jobs} (seed ${r.seed})`],
    ...Object.entries(r.faults).map(([k, v]) => [`fault: ${k}`, v] as [string, number]),
    ['leader takeovers seen', r.takeovers],
    ['replica recycles (log lines)', r.recycles],
    ['submits retried (Redis away)', r.submitRetries],
    ['completed', r.completed],
    ['failed with a reason', r.failed],
    ...Object.entries(r.failedReasons).map(([k, v]) => [`  reason: ${k}`, v] as [string, number]),
    ['lost', r.lost.length],
    ['stuck in active', r.stuck.length],
    ['not finished (waiting/delayed)', r.unfinished.length],
    ['ran more than once', r.ranTwice],
    ['finished more than once', r.finishedTwice],
    ['completed without a run', r.completedWithoutRun.length],
    ['idempotency conflicts', r.keyConflicts.length],
    ['wall time (s)', r.seconds],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** What must hold; an empty list is a pass. */
export function violations(r: ChaosReport): string[] {
  const v: string[] = [];
  if (r.lost.length) v.push(`${r.lost.length} jobs lost: ${r.lost.slice(0, 5).join(', ')}`);
  if (r.stuck.length) v.push(`${r.stuck.length} jobs stuck in active: ${r.stuck.slice(0, 5).join(', ')}`);
  if (r.unfinished.length) v.push(`${r.unfinished.length} jobs not finished: ${r.unfinished.slice(0, 5).join(', ')}`);
  if (r.completedWithoutRun.length) v.push(`${r.completedWithoutRun.length} completed jobs with no finished run: ${r.completedWithoutRun.slice(0, 5).join(', ')}`);
  if (r.keyConflicts.length) v.push(`idempotency: ${r.keyConflicts.slice(0, 5).join('; ')}`);
  if (r.completed + r.failed !== r.jobs) v.push(`${r.completed} completed + ${r.failed} failed != ${r.jobs} submitted`);
  if (r.failedReasons['(no reason)']) v.push(`${r.failedReasons['(no reason)']} failed jobs without a reason`);
  return v;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, dflt: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
  const report = await runChaos({ jobs: arg('jobs', 5000), seed: arg('seed', 1) });
  console.log(formatReport(report));
  const bad = violations(report);
  for (const b of bad) console.log(`VIOLATION: ${b}`);
  process.exit(bad.length ? 1 : 0);
}
