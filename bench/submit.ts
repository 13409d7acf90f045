/**
 * Enqueue cost: Trireme's submit and submitMany against BullMQ's add and addBulk on the same private Redis, in one
 * run. Rounds alternate baseline and Trireme; the table shows the median jobs/s of each, the client's own CPU per job
 * (process.cpuUsage: steadier than the rate on a machine the client shares with Redis) and the Redis commands per job
 * (from INFO commandstats, counted over each mode's own rounds). Two more rows say what a custom job id costs BullMQ
 * itself (addBulk with ids shaped like Trireme's), and what submitMany costs with `ids: 'numbered'` (BullMQ's own).
 *
 *   npm run bench:submit [-- --jobs 10000 --rounds 3 --inflight 1000]
 *
 * Targets (issues 13 and 27): submit >= 0.9x add at the same concurrency; submitMany >= 0.9x addBulk's rate and
 * <= 1.1x its client CPU (with numbered ids: Trireme's own ids carry BullMQ's cost of a custom id); commands per job
 * within 10 % of BullMQ's.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { buildProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { bullConnection } from '../src/redis/connection.js';
import { benchRedis, commandCalls } from './redis.js';
import { table } from '../src/sim/report.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' }, inflight: { type: 'string', default: '1000' } } });
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const INFLIGHT = Number(values.inflight);
const PREFIX = 'bench';
const CHUNK = 1000;

const redis = await benchRedis();
const admin = new Redis(redis.url);
const project = await buildProject({
  prefix: PREFIX, defaultQueue: 'tri', pools: { bench: { queues: ['tri'], concurrency: 1 } },
  commands: { 'bench.noop': { command: ['true'] } },
}, { baseDir: process.cwd(), tasks: false });
const client = new TriremeClient(project, redis.url);
const plain = new Queue('plain', { connection: bullConnection(redis.url), prefix: PREFIX });
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
const MODES: [Mode, Mode][] = [
  [{ name: `add, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => plain.add('bench.noop', {}, opts)) },
    { name: `submit, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => client.submit('bench.noop', {})) }],
  [{ name: 'add, one by one', run: () => pooled(1, () => plain.add('bench.noop', {}, opts)) },
    { name: 'submit, one by one', run: () => pooled(1, () => client.submit('bench.noop', {})) }],
  [addBulk, { name: `submitMany of ${CHUNK}`, run: () => chunks((n) => client.submitMany('bench.noop', Array.from({ length: n }, () => ({})))) }],
  [addBulk, { name: `addBulk of ${CHUNK} with custom ids`, run: () => chunks((n) => plain.addBulk(Array.from({ length: n }, () => ({ name: 'bench.noop', data: {}, opts: { ...opts, jobId: `plain~${randomUUID()}` } })))) }],
  [addBulk, { name: `submitMany of ${CHUNK}, ids: numbered`, run: () => chunks((n) => client.submitMany('bench.noop', Array.from({ length: n }, () => ({})), { ids: 'numbered' })) }],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [['mode', 'BullMQ jobs/s', 'other jobs/s', 'ratio', 'BullMQ us/job', 'other us/job', 'cpu ratio', 'BullMQ cmds/job', 'other cmds/job', 'cmd ratio']];
for (const pair of MODES) {
  const rate: number[][] = [[], []];
  const cpu: number[][] = [[], []];
  const cmds: number[][] = [[], []];
  for (let r = 0; r < ROUNDS; r++) {
    for (const [side, mode] of pair.entries()) {
      await admin.flushall();
      await admin.config('RESETSTAT');
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await mode.run();
      const c = process.cpuUsage(c0);
      rate[side].push(JOBS / ((performance.now() - t0) / 1000));
      cpu[side].push((c.user + c.system) / JOBS);
      cmds[side].push(await commandCalls(admin) / JOBS);
    }
  }
  const [b, t] = rate.map(median);
  const [ub, ut] = cpu.map(median);
  const [cb, ct] = cmds.map(median);
  rows.push([`${pair[0].name} / ${pair[1].name}`, b.toFixed(0), t.toFixed(0), (t / b).toFixed(2), ub.toFixed(1), ut.toFixed(1), (ut / ub).toFixed(2), cb.toFixed(2), ct.toFixed(2), (ct / cb).toFixed(2)]);
}

console.log(table(rows));
console.log(`\n${JOBS} jobs per round, median of ${ROUNDS} alternating rounds; private redis-server; client CPU from process.cpuUsage(); targets: ratio >= 0.90, cpu ratio <= 1.10 (submitMany, numbered ids), cmd ratio <= 1.10`);
await client.close();
await plain.close();
admin.disconnect();
redis.stop();
process.exit(0);
