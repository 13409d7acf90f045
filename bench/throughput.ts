/**
 * End-to-end no-op jobs/s through a Trireme pool replica (in-process isolation) against a plain BullMQ Worker with
 * the same concurrency on the same Redis, measured in one run. Each round pre-fills the queue with the same jobs and
 * starts the consumer; rounds alternate baseline and Trireme, and the table shows the median of each.
 *
 *   npm run bench:throughput [-- --jobs 5000 --rounds 3 --concurrency 1,10,100]
 */
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { buildProject } from '../src/project/project.js';
import { PoolWorker } from '../src/replica/pool-worker.js';
import { bullConnection } from '../src/redis/connection.js';
import { benchRedis } from './redis.js';
import { probe } from './tasks.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '1,10,100' } } });
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const LEVELS = values.concurrency!.split(',').map(Number);
const PREFIX = 'bench';

const redis = await benchRedis();
const conn = bullConnection(redis.url);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function fill(queue: string): Promise<Queue> {
  const q = new Queue(queue, { connection: conn, prefix: PREFIX });
  await q.obliterate({ force: true }).catch(() => {});
  for (let i = 0; i < JOBS; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'bench.noop', data: {}, opts: { removeOnComplete: true } })));
  }
  return q;
}

/**
 * Starts a consumer and measures steady-state jobs/s: the time between the 10 % and the 90 % processor call, taken in
 * the processor itself (no polling), so neither consumer's start-up nor the tail counts.
 */
async function timeRun(q: Queue, start: () => Promise<() => Promise<void>>): Promise<number> {
  const reached = new Promise<void>((resolve) => probe.reset(JOBS, resolve));
  const stop = await start();
  await reached;
  const rate = (JOBS * 0.8) / ((probe.t90 - probe.t10) / 1000);
  await stop();
  await q.obliterate({ force: true }).catch(() => {});
  return rate;
}

async function baseline(concurrency: number): Promise<number> {
  const q = await fill('plain');
  const rate = await timeRun(q, async () => {
    const w = new Worker('plain', async () => { probe.tick(); return null; }, { connection: conn, prefix: PREFIX, concurrency });
    return () => w.close();
  });
  await q.close();
  return rate;
}

async function trireme(concurrency: number): Promise<number> {
  const project = await buildProject({
    prefix: PREFIX, tasks: ['./tasks.ts'], defaultQueue: 'tri',
    pools: { bench: { queues: ['tri'], concurrency, isolation: 'in-process' } },
  }, { baseDir: new URL('.', import.meta.url).pathname });
  const q = await fill('tri');
  const rate = await timeRun(q, async () => {
    const w = new PoolWorker({ project, pool: 'bench', redisUrl: redis.url });
    await w.start();
    return () => w.drain(5_000);
  });
  await q.close();
  return rate;
}

const rows: string[][] = [['concurrency', 'plain BullMQ jobs/s', 'Trireme jobs/s', 'ratio', 'target']];
for (const c of LEVELS) {
  const base: number[] = [];
  const tri: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(await baseline(c));
    tri.push(await trireme(c));
  }
  const b = median(base);
  const t = median(tri);
  rows.push([String(c), b.toFixed(0), t.toFixed(0), `${(t / b).toFixed(3)}x`, t / b >= 0.95 ? '>= 0.95x ok' : '< 0.95x MISSED']);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(`${JOBS} no-op jobs per round (rate between the 10 % and 90 % processor calls), median of ${ROUNDS} alternating rounds, one private redis-server\n`);
for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i])).join('  '));
redis.stop();
process.exit(0);
