/**
 * One replica for bench/scale.ts, in its own process: a plain BullMQ Worker (`plain`) or a Trireme pool replica
 * (`trireme`, in-process isolation) with the same concurrency on the same Redis. Jobs sleep `ms` and carry `sentAt`;
 * the start latency (start - sentAt, one machine's clock) of every job is kept in memory and written to
 * `<dir>/<pid>.json` when SIGTERM stops the replica, so measuring adds no Redis work.
 *
 *   node --import tsx bench/scale-worker.ts plain|trireme REDIS_URL CONCURRENCY DIR
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { buildProject } from '../src/project/project.js';
import { PoolWorker } from '../src/replica/pool-worker.js';
import { bullConnection } from '../src/redis/connection.js';
import { Keyspace } from '../src/redis/keyspace.js';
import { isClusterUrl } from '../src/core/redis-url.js';
import { latencies } from './scale-tasks.js';

const [mode, redisUrl, concurrency, dir] = process.argv.slice(2);
const C = Number(concurrency);
let stop: () => Promise<void>;

if (mode === 'plain') {
  const w = new Worker('plain', async (job) => {
    if (job.data.open) latencies.push(Date.now() - job.data.sentAt);
    await new Promise((r) => setTimeout(r, job.data.ms));
    return null;
  }, { connection: bullConnection(redisUrl), prefix: new Keyspace('scale', isClusterUrl(redisUrl)).queuePrefix('plain'), concurrency: C, removeOnComplete: { count: 1000 } });
  await w.waitUntilReady();
  stop = () => w.close();
} else {
  const project = await buildProject({
    prefix: 'scale', tasks: ['./scale-tasks.ts'], defaultQueue: 'tri',
    pools: { bench: { queues: ['tri'], concurrency: C, isolation: 'in-process' } },
  }, { baseDir: new URL('.', import.meta.url).pathname });
  const w = new PoolWorker({ project, pool: 'bench', redisUrl });
  await w.start();
  stop = () => w.drain(5_000);
}
process.send?.('ready');
process.once('SIGTERM', () => {
  void stop().finally(() => {
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify(latencies));
    process.exit(0);
  });
});
