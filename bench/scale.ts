/**
 * The hot path at scale: plain BullMQ and Trireme side by side on one private Redis, in one run. Each side gets W
 * replica processes of C concurrency (bench/scale-worker.ts: a BullMQ Worker, or a Trireme pool replica), fed the
 * same workloads of sleep jobs:
 *  - a burst of 10 x slots jobs at once (addBulk / submitMany): slot use = work / (slots x time to finish);
 *  - open-loop submits at 0.9 of capacity for `--seconds`, one job at a time from a ticking submitter (add / submit):
 *    start latency p50/p95/p99 (start - submit, measured in the replicas), jobs actually sent;
 *  - Redis commands per job during the open-loop phase (INFO commandstats), the submitter's and the replicas'.
 * Targets (issue 13): start p99 <= 1.5x plain's at every rate with the same jobs sent; burst slot use >= 0.97x plain's;
 * commands per job within 10 % of plain's.
 *
 *   npm run bench:scale [-- --replicas 10 --concurrency 60 --seconds 15 --durations 2000,200,50 --setup sentinel|cluster | --redis URL]
 * Defaults: 10 x 60 on a machine with 16 or more cores, else 2 x 20; a private redis-server, or (`--setup`) a private
 * Sentinel set or Cluster on loopback, or (`--redis`) any URL Trireme takes, where only the bench's keys are removed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { buildProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { bullConnection } from '../src/redis/connection.js';
import { Keyspace } from '../src/redis/keyspace.js';
import { isClusterUrl } from '../src/core/redis-url.js';
import { benchTarget } from './redis.js';
import { table } from '../src/sim/report.js';

const big = availableParallelism() >= 16;
const { values } = parseArgs({ options: {
  replicas: { type: 'string', default: big ? '10' : '2' },
  concurrency: { type: 'string', default: big ? '60' : '20' },
  seconds: { type: 'string', default: big ? '15' : '8' },
  durations: { type: 'string', default: '2000,200,50' },
  redis: { type: 'string' },
  setup: { type: 'string' },
} });
const W = Number(values.replicas);
const C = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const DURATIONS = values.durations!.split(',').map(Number);
const SLOTS = W * C;

const redis = await benchTarget({ url: values.redis, setup: values.setup });
const project = await buildProject({
  prefix: 'scale', defaultQueue: 'tri', pools: { bench: { queues: ['tri'], concurrency: C } },
  commands: { 'scale.sleep': { command: ['true'] } },
}, { baseDir: process.cwd(), tasks: false });
const client = new TriremeClient(project, redis.url);
// The plain queue under a hash tag of its own on a Cluster, as Trireme's queues are (scale-worker.ts does the same).
const plain = new Queue('plain', { connection: bullConnection(redis.url), prefix: new Keyspace('scale', isClusterUrl(redis.url)).queuePrefix('plain') });
const opts = { removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } };

type Side = 'plain' | 'trireme';
const queueOf = (side: Side) => (side === 'plain' ? plain : client.queue('tri'));
const submitOne = (side: Side, ms: number) => (side === 'plain'
  ? plain.add('scale.sleep', { ms, sentAt: Date.now(), open: true }, opts)
  : client.submit('scale.sleep', { ms, sentAt: Date.now(), open: true }));
const submitBurst = async (side: Side, n: number, ms: number) => {
  for (let i = 0; i < n; i += 1000) {
    const size = Math.min(1000, n - i);
    if (side === 'plain') await plain.addBulk(Array.from({ length: size }, () => ({ name: 'scale.sleep', data: { ms, sentAt: Date.now() }, opts })));
    else await client.submitMany('scale.sleep', Array.from({ length: size }, () => ({ ms, sentAt: Date.now() })));
  }
};
/** Nothing left to run or running (completed jobs are trimmed, so they cannot be counted). */
const drained = async (side: Side) => {
  const c = await queueOf(side).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return Object.values(c).every((n) => n === 0);
};

async function replicas(side: Side, dir: string): Promise<ChildProcess[]> {
  const here = new URL('.', import.meta.url).pathname;
  const kids = Array.from({ length: W }, () => fork(join(here, 'scale-worker.ts'), [side, redis.url, String(C), dir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  return kids;
}
async function stopAll(kids: ChildProcess[]): Promise<void> {
  await Promise.all(kids.map((k) => new Promise((r) => { k.once('exit', r); k.kill('SIGTERM'); })));
}
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) { if (Date.now() > end) throw new Error(`timed out waiting for ${what}`); await new Promise((r) => setTimeout(r, 100)); }
}

interface Row { side: Side; ms: number; slotUse: number; sent: number; p50: number; p95: number; p99: number; cmds: number }

async function run(side: Side, ms: number): Promise<Row> {
  await redis.clean('scale');
  const dir = mkdtempSync(join(tmpdir(), 'trireme-scale-'));
  const kids = await replicas(side, dir);
  // Burst: 10 x slots jobs at once.
  const burst = 10 * SLOTS;
  const t0 = Date.now();
  await submitBurst(side, burst, ms);
  process.stderr.write(`${side} ${ms} ms: burst of ${burst}\n`);
  await until(() => drained(side), 60_000 + burst * ms / SLOTS * 4, `the burst (${side}, ${ms} ms)`);
  const slotUse = (burst * ms) / (SLOTS * (Date.now() - t0));
  await queueOf(side).obliterate({ force: true }).catch(() => {});
  await redis.resetStats();
  // Open loop at 0.9 of capacity: a tick every 10 ms sends what is due; a slow submitter simply sends fewer.
  const rate = (0.9 * SLOTS * 1000) / ms;
  let sent = 0;
  const start = Date.now();
  const inflight: Promise<unknown>[] = [];
  while (Date.now() - start < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) { sent++; inflight.push(submitOne(side, ms)); }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(inflight);
  process.stderr.write(`${side} ${ms} ms: open loop sent ${sent}\n`);
  await until(() => drained(side), 120_000 + ms * 10, `the open loop (${side}, ${ms} ms)`);
  const cmds = (await redis.commandCalls()) / sent;
  await stopAll(kids);
  // The replicas recorded the open-loop jobs only (their payload says so).
  const open = readdirSync(dir).flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as number[]);
  rmSync(dir, { recursive: true, force: true });
  return { side, ms, slotUse, sent, p50: pct(open, 0.5), p95: pct(open, 0.95), p99: pct(open, 0.99), cmds };
}

const rows: string[][] = [['job', 'side', 'burst slot use', 'sent', 'start p50 ms', 'p95', 'p99', 'cmds/job']];
const verdicts: string[] = [];
for (const ms of DURATIONS) {
  const plainRow = await run('plain', ms);
  const tri = await run('trireme', ms);
  for (const r of [plainRow, tri]) rows.push([`${ms} ms`, r.side, r.slotUse.toFixed(3), String(r.sent), String(r.p50), String(r.p95), String(r.p99), r.cmds.toFixed(2)]);
  verdicts.push(`${ms} ms: slot use ${(tri.slotUse / plainRow.slotUse).toFixed(2)}x (>= 0.97), p99 ${(tri.p99 / Math.max(1, plainRow.p99)).toFixed(2)}x (<= 1.5), sent ${tri.sent}/${plainRow.sent}, cmds ${(tri.cmds / plainRow.cmds).toFixed(2)}x (<= 1.10)`);
}
console.log(table(rows));
console.log(`\n${W} replicas x ${C} concurrency (${SLOTS} slots), open loop ${SECONDS} s at 0.9 of capacity, ${availableParallelism()} cores; ${redis.describe}`);
for (const v of verdicts) console.log(v);
await client.close();
await plain.close();
await redis.stop();
process.exit(0);
