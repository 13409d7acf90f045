/**
 * Warm runners against the other ways of running a job, in one run on this machine (npm run bench:runners):
 *  - per-job overhead of a no-op: an in-process TypeScript task, a Python task on a warm runner, and the same Python
 *    as a command task (a fresh python3 per job), one job at a time through a real `serve`, in alternating rounds.
 *    Overhead is what BullMQ recorded: started -> finished (the replica's side) and submitted -> finished.
 *    Target (issue 22): the warm runner's p50 within 5 ms of the TypeScript task's.
 *  - a task whose module takes 2 s to import (the example's ml.predict), first job after a wake from zero through
 *    the pool's standby against a warm job, submitted -> finished. Target: at most 1.2x the warm job's time.
 *
 *   npm run bench:runners [-- --jobs 300 --tries 8]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { ReplicaRegistry, StandbyRegistry } from '../src/stores/registry.js';
import { ControlStore } from '../src/stores/control-store.js';
import { benchRedis } from './redis.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '300' }, tries: { type: 'string', default: '8' } } });
const JOBS = Number(values.jobs);
const TRIES = Number(values.tries);
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'bin/trireme.cjs');
const config = join(root, 'bench/runners.yml');
const redis = await benchRedis();
const env = { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json', TRIREME_LOG_LEVEL: 'warn' };
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
const until = async (what: string, cond: () => Promise<boolean> | boolean, limitMs = 120_000) => {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`bench: gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const project = await loadProject(config, { TRIREME_REDIS_URL: redis.url });
const client = new TriremeClient(project, redis.url);
const registry = new ReplicaRegistry(client.redis, project.config.prefix);
const standbys = new StandbyRegistry(client.redis, project.config.prefix);
const store = new ControlStore(client.redis, project.config.prefix);
const serve = spawn(process.execPath, [cli, '-c', config, 'serve', '--no-api', '--grace', '5s'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
await until('one idle replica of ts, warm and fresh', async () => (await registry.list()).filter((r) => r.state === 'idle' && r.pool !== 'ml').length === 3);

/** One job, waited for; BullMQ's timestamps: submitted -> started -> finished (ms). */
async function timed(task: string, payload: unknown): Promise<{ run: number; total: number }> {
  const job = await client.submit(task, payload);
  await client.waitFor(job.id, 60_000);
  const v = (await client.getJob(job.id))!;
  return { run: v.finishedAt! - v.startedAt!, total: v.finishedAt! - v.submittedAt };
}

// 1. Per-job overhead of a no-op, in alternating rounds so that the machine's drift falls on every mode alike.
const modes = [['TypeScript, in-process', 'bench.noop'], ['Python, warm runner', 'bench.pynoop'], ['Python, fresh process per job', 'bench.pyfresh']] as const;
const results = new Map<string, { run: number[]; total: number[] }>(modes.map(([label]) => [label, { run: [], total: [] }]));
for (const [, task] of modes) for (let i = 0; i < 5; i++) await timed(task, {}); // warm up every path
const ROUNDS = 5;
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, task] of modes) {
    // The fresh process costs tens of ms a job: a fifth of the jobs is plenty for its percentiles.
    const n = Math.ceil((task === 'bench.pyfresh' ? JOBS / 5 : JOBS) / ROUNDS);
    for (let i = 0; i < n; i++) {
      const t = await timed(task, {});
      results.get(label)!.run.push(t.run);
      results.get(label)!.total.push(t.total);
    }
  }
}
const ts = results.get(modes[0][0])!;
const rows: string[][] = [['no-op job', 'n', 'started->finished p50', 'p95', 'submitted->finished p50', 'p95', 'p50 over TypeScript', 'target', 'verdict']];
for (const [label] of modes) {
  const r = results.get(label)!;
  const over = pct(r.total, 50) - pct(ts.total, 50);
  const target = label === modes[1][0] ? 5 : undefined;
  rows.push([label, String(r.run.length), `${pct(r.run, 50)} ms`, `${pct(r.run, 95)} ms`, `${pct(r.total, 50)} ms`, `${pct(r.total, 95)} ms`,
    label === modes[0][0] ? '(baseline)' : `${over >= 0 ? '+' : ''}${over} ms`, target ? `<= +${target} ms` : '', target ? (over <= target ? 'ok' : 'MISSED') : '']);
}

// 2. The 2 s-import task: woken from zero through its standby, then warm.
const warm: Record<number, number[]> = { 100: [], 1000: [] };
const wokenBy: Record<number, number[]> = { 100: [], 1000: [] };
for (let i = 0; i < TRIES; i++) {
  for (const ms of [100, 1000]) {
    await store.setReplicas('ml', 0);
    await until('the ml pool at zero', async () => (await registry.list('ml')).length === 0);
    await store.resume('ml');
    // The standby beats every 5 s: wait until it says its runner has loaded.
    await until('the ml standby with its runner loaded', async () => (await standbys.list()).some((s) => s.pool === 'ml' && (s.runners?.[0]?.idle ?? 0) >= 1));
    const first = await timed('ml.predict', { ms });
    wokenBy[ms].push(first.total);
    for (let k = 0; k < 3; k++) warm[ms].push((await timed('ml.predict', { ms })).total);
  }
}
const rows2: string[][] = [['ml.predict (2 s import)', 'n', 'woken from zero p50', 'p95', 'warm p50', 'ratio p50', 'target', 'verdict']];
for (const ms of [100, 1000]) {
  const ratio = pct(wokenBy[ms], 50) / pct(warm[ms], 50);
  rows2.push([`{"ms": ${ms}}`, String(wokenBy[ms].length), `${pct(wokenBy[ms], 50)} ms`, `${pct(wokenBy[ms], 95)} ms`, `${pct(warm[ms], 50)} ms`, `${ratio.toFixed(2)}x`, '<= 1.2x', ratio <= 1.2 ? 'ok' : 'MISSED']);
}

const print = (title: string, table: string[][]) => {
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  console.log(`\n${title}\n`);
  for (const r of table) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
};
print(`per-job overhead of a no-op, one job at a time, ${ROUNDS} alternating rounds (BullMQ's ms timestamps)`, rows);
print(`a task whose module takes 2 s to import: submitted -> finished, ${TRIES} wakes from zero through the standby, 3 warm jobs after each`, rows2);
serve.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
await client.close();
redis.stop();
process.exit(0);
