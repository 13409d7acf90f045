/**
 * Enqueue cost: Trireme's submit and submitMany against BullMQ's add and addBulk on the same private Redis, in one
 * run. Rounds alternate baseline and Trireme; the table shows the median jobs/s of each and the Redis commands per
 * job (from INFO commandstats, counted over each mode's own rounds).
 *
 *   npm run bench:submit [-- --jobs 10000 --rounds 3 --inflight 1000]
 *
 * Targets (issue 13): submit >= 0.9x add at the same concurrency; submitMany >= 0.9x addBulk; commands per job within
 * 10 % of BullMQ's.
 */
import { parseArgs } from 'node:util';
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
const MODES: [Mode, Mode][] = [
  [{ name: `add, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => plain.add('bench.noop', {}, opts)) },
    { name: `submit, ${INFLIGHT} in flight`, run: () => pooled(INFLIGHT, () => client.submit('bench.noop', {})) }],
  [{ name: 'add, one by one', run: () => pooled(1, () => plain.add('bench.noop', {}, opts)) },
    { name: 'submit, one by one', run: () => pooled(1, () => client.submit('bench.noop', {})) }],
  [{ name: `addBulk of ${CHUNK}`, run: async () => { for (let i = 0; i < JOBS; i += CHUNK) await plain.addBulk(Array.from({ length: Math.min(CHUNK, JOBS - i) }, () => ({ name: 'bench.noop', data: {}, opts }))); } },
    { name: `submitMany of ${CHUNK}`, run: async () => { for (let i = 0; i < JOBS; i += CHUNK) await client.submitMany('bench.noop', Array.from({ length: Math.min(CHUNK, JOBS - i) }, () => ({}))); } }],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [['mode', 'BullMQ jobs/s', 'Trireme jobs/s', 'ratio', 'BullMQ cmds/job', 'Trireme cmds/job', 'cmd ratio']];
for (const pair of MODES) {
  const rate: number[][] = [[], []];
  const cmds: number[][] = [[], []];
  for (let r = 0; r < ROUNDS; r++) {
    for (const [side, mode] of pair.entries()) {
      await admin.flushall();
      await admin.config('RESETSTAT');
      const t0 = performance.now();
      await mode.run();
      rate[side].push(JOBS / ((performance.now() - t0) / 1000));
      cmds[side].push(await commandCalls(admin) / JOBS);
    }
  }
  const [b, t] = rate.map(median);
  const [cb, ct] = cmds.map(median);
  rows.push([`${pair[0].name} / ${pair[1].name}`, b.toFixed(0), t.toFixed(0), (t / b).toFixed(2), cb.toFixed(2), ct.toFixed(2), (ct / cb).toFixed(2)]);
}

console.log(table(rows));
console.log(`\n${JOBS} jobs per round, median of ${ROUNDS} alternating rounds; private redis-server; targets: ratio >= 0.90, cmd ratio <= 1.10`);
await client.close();
await plain.close();
admin.disconnect();
redis.stop();
process.exit(0);
