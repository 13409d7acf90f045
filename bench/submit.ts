/**
 * Enqueue cost: Trireme's submit and submitMany against BullMQ's add and addBulk on the same Redis, in one run. Rounds
 * alternate baseline and Trireme; the table shows the median jobs/s of each, the client's own CPU per job
 * (process.cpuUsage: steadier than the rate on a machine the client shares with Redis) and the Redis commands per job
 * (from INFO commandstats, counted over each mode's own rounds). Two more rows say what a custom job id costs BullMQ
 * itself (addBulk with ids shaped like Trireme's), and what submitMany costs with `ids: 'numbered'` (BullMQ's own).
 * Where the primary has a replica, also what `redis.waitForReplicas: 1` costs a submit against none (a WAIT after each
 * write; concurrent submits share one).
 *
 *   npm run bench:submit [-- --jobs 10000 --rounds 3 --inflight 1000 --replicas 1 | --setup sentinel|cluster | --redis URL]
 *
 * Default: a private redis-server, with `--replicas` replicas of its own; `--setup`: a private Sentinel set or Cluster
 * on loopback; `--redis`: any URL Trireme takes (redis+sentinel://, redis+cluster://), where only the bench's keys are
 * removed (bench/redis.ts).
 * Targets (issues 13 and 27): submit >= 0.9x add at the same concurrency; submitMany >= 0.9x addBulk's rate and
 * <= 1.1x its client CPU (with numbered ids: Trireme's own ids carry BullMQ's cost of a custom id); commands per job
 * within 10 % of BullMQ's.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { buildProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { bullConnection } from '../src/redis/connection.js';
import { Keyspace } from '../src/redis/keyspace.js';
import { isClusterUrl } from '../src/core/redis-url.js';
import { benchTarget } from './redis.js';
import { table } from '../src/sim/report.js';

const { values } = parseArgs({ options: {
  jobs: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' }, inflight: { type: 'string', default: '1000' },
  replicas: { type: 'string', default: '0' }, redis: { type: 'string' }, setup: { type: 'string' },
} });
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const INFLIGHT = Number(values.inflight);
const PREFIX = 'bench';
const CHUNK = 1000;

const redis = await benchTarget({ url: values.redis, replicas: Number(values.replicas), setup: values.setup });
const config = (waitForReplicas: number) => ({
  prefix: PREFIX, defaultQueue: 'tri', pools: { bench: { queues: ['tri'], concurrency: 1 } },
  commands: { 'bench.noop': { command: ['true'] } }, redis: { waitForReplicas },
});
const project = await buildProject(config(0), { baseDir: process.cwd(), tasks: false });
const client = new TriremeClient(project, redis.url);
const kept = redis.replicas > 0 ? new TriremeClient(await buildProject(config(1), { baseDir: process.cwd(), tasks: false }), redis.url) : undefined;
// The plain queue under a hash tag of its own on a Cluster, as Trireme's queues are.
const plain = new Queue('plain', { connection: bullConnection(redis.url), prefix: new Keyspace(PREFIX, isClusterUrl(redis.url)).queuePrefix('plain') });
const opts = { removeOnComplete: { age: 86_400, count: 10_000 }, removeOnFail: { age: 7 * 86_400, count: 10_000 } };

/** Runs `one(i)` JOBS times with at most `inflight` at once. */
async function pooled(inflight: number, one: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inflight, JOBS) }, async () => {
    while (next < JOBS) await one(next++);
  }));
}


type Mode = { name: string; run: () => Promise<void> };
/** Runs `one(n)` over JOBS in chunks of CHUNK. */
async function chunks(one: (n: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < JOBS; i += CHUNK) await one(Math.min(CHUNK, JOBS - i));
}
const addBulk: Mode = { name: `addBulk of ${CHUNK}`, run: () => chunks((n) => plain.addBulk(Array.from({ length: n }, () => ({ name: 'bench.noop', data: {}, opts })))) };
const waits: [Mode, Mode][] = kept ? [
  [{ name: `submit, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => client.submit('bench.noop', {})) },
    { name: 'waitForReplicas 1', run: () => pooled(INFLIGHT, () => kept.submit('bench.noop', {})) }],
  [{ name: 'submit, one by one', run: () => pooled(1, () => client.submit('bench.noop', {})) },
    { name: 'waitForReplicas 1', run: () => pooled(1, () => kept.submit('bench.noop', {})) }],
] : [];
const MODES: [Mode, Mode][] = [
  [{ name: `add, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => plain.add('bench.noop', {}, opts)) },
    { name: `submit, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => client.submit('bench.noop', {})) }],
  [{ name: 'add, one by one', run: () => pooled(1, () => plain.add('bench.noop', {}, opts)) },
    { name: 'submit, one by one', run: () => pooled(1, () => client.submit('bench.noop', {})) }],
  [addBulk, { name: `submitMany of ${CHUNK}`, run: () => chunks((n) => client.submitMany('bench.noop', Array.from({ length: n }, () => ({})))) }],
  [addBulk, { name: `addBulk of ${CHUNK} with custom ids`, run: () => chunks((n) => plain.addBulk(Array.from({ length: n }, () => ({ name: 'bench.noop', data: {}, opts: { ...opts, jobId: `plain~${randomUUID()}` } })))) }],
  [addBulk, { name: `submitMany of ${CHUNK}, ids: numbered`, run: () => chunks((n) => client.submitMany('bench.noop', Array.from({ length: n }, () => ({})), { ids: 'numbered' })) }],
  ...waits,
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [['mode', 'BullMQ jobs/s', 'other jobs/s', 'ratio', 'BullMQ us/job', 'other us/job', 'cpu ratio', 'BullMQ cmds/job', 'other cmds/job', 'cmd ratio']];
const costs: string[] = [];
for (const pair of MODES) {
  const rate: number[][] = [[], []];
  const cpu: number[][] = [[], []];
  const cmds: number[][] = [[], []];
  for (let r = 0; r < ROUNDS; r++) {
    for (const [side, mode] of pair.entries()) {
      await redis.clean(PREFIX);
      await redis.resetStats();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await mode.run();
      const c = process.cpuUsage(c0);
      rate[side].push(JOBS / ((performance.now() - t0) / 1000));
      cpu[side].push((c.user + c.system) / JOBS);
      cmds[side].push(await redis.commandCalls() / JOBS);
    }
  }
  const [b, t] = rate.map(median);
  const [ub, ut] = cpu.map(median);
  const [cb, ct] = cmds.map(median);
  rows.push([`${pair[0].name} / ${pair[1].name}`, b.toFixed(0), t.toFixed(0), (t / b).toFixed(2), ub.toFixed(1), ut.toFixed(1), (ut / ub).toFixed(2), cb.toFixed(2), ct.toFixed(2), (ct / cb).toFixed(2)]);
  // For the waitForReplicas pairs both columns are Trireme's: without, then with.
  if (waits.includes(pair)) costs.push(`${pair[0].name}: waitForReplicas 1 costs ${((1 / t - 1 / b) * 1e6).toFixed(0)} us per submit of wall time (${b.toFixed(0)} -> ${t.toFixed(0)} jobs/s, x${(t / b).toFixed(2)}), ${(ct - cb).toFixed(2)} more commands per job`);
}

console.log(table(rows));
console.log(`\n${JOBS} jobs per round, median of ${ROUNDS} alternating rounds; ${redis.describe}; client CPU from process.cpuUsage(); targets: ratio >= 0.90, cpu ratio <= 1.10 (submitMany, numbered ids), cmd ratio <= 1.10`);
if (kept) console.log(`rows "... / waitForReplicas 1": submit without and with redis.waitForReplicas 1, both Trireme\n${costs.join('\n')}`);
else console.log('waitForReplicas: not measured (no replica; --replicas 1 starts one)');
await client.close();
await kept?.close();
await plain.close();
await redis.stop();
process.exit(0);
