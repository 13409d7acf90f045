/**
 * What job history costs the job path: no-op jobs/s through a Trireme replica with history off, with history on
 * (a private PostgreSQL, the recorder writing batches from a process of its own, as serve does), and with history on
 * while PostgreSQL is stopped
 * (records wait in Redis). Same Redis, same process, alternating rounds; the table shows the median of each and the
 * ratio to history off, and how long the recorder took to have every record of a round in PostgreSQL.
 *
 *   npm run bench:history [-- --jobs 20000 --rounds 3 --concurrency 50]
 */
import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import { Queue } from 'bullmq';
import pg from 'pg';
import { buildProject } from '../src/project/project.js';
import { PoolWorker } from '../src/replica/pool-worker.js';
import { bullConnection, connect } from '../src/redis/connection.js';
import { HistoryRecorder } from '../src/history/recorder.js';
import { benchRedis } from './redis.js';
import { probe } from './tasks.js';
import { startPostgres } from '../test/postgres.js';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '50' } } });
const JOBS = Number(values.jobs);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const PREFIX = 'benchh';

const redis = await benchRedis();
const postgres = await startPostgres();
const conn = bullConnection(redis.url);
const admin = connect(redis.url);
const db = new pg.Pool({ connectionString: postgres.url });
db.on('error', () => {}); // its idle clients see PostgreSQL stop in the third mode
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Mode = 'off' | 'on' | 'on, PostgreSQL stopped';

async function round(mode: Mode): Promise<{ rate: number; catchUpMs?: number }> {
  const history = mode === 'off' ? undefined : { postgres: postgres.url, batch: 500 };
  const project = await buildProject({
    prefix: PREFIX, tasks: ['./tasks.ts'], defaultQueue: 'tri', history,
    pools: { bench: { queues: ['tri'], concurrency: CONCURRENCY, isolation: 'in-process' } },
  }, { baseDir: new URL('.', import.meta.url).pathname });
  const q = new Queue('tri', { connection: conn, prefix: PREFIX });
  await q.obliterate({ force: true }).catch(() => {});
  for (let i = 0; i < JOBS; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, () => ({ name: 'bench.noop', data: {}, opts: { removeOnComplete: true, jobId: `tri~${crypto.randomUUID()}` } })));
  }
  const before = history ? Number((await db.query('SELECT count(*) FROM trireme_runs')).rows[0].count) : 0;
  if (mode === 'on, PostgreSQL stopped') await postgres.stop();
  // The recorder in a process of its own, as serve runs it beside the replicas.
  const recorder = history ? fork(new URL('./history-recorder.ts', import.meta.url).pathname, [postgres.url, redis.url, PREFIX], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }) : undefined;
  if (recorder) await new Promise((r) => recorder.once('message', r));
  const reached = new Promise<void>((resolve) => probe.reset(JOBS, resolve));
  const w = new PoolWorker({ project, pool: 'bench', redisUrl: redis.url });
  await w.start();
  await reached;
  const rate = (JOBS * 0.8) / ((probe.t90 - probe.t10) / 1000);
  await w.drain(5_000);
  // The round stops at 90 %: what ran is what history must hold.
  const ran = w.info().jobsDone;
  let catchUpMs: number | undefined;
  if (recorder) {
    if (mode === 'on, PostgreSQL stopped') await postgres.start();
    const t0 = performance.now();
    for (;;) {
      const n = Number((await db.query('SELECT count(*) FROM trireme_runs').catch(() => ({ rows: [{ count: 0 }] }))).rows[0].count);
      if (n - before >= ran) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    catchUpMs = performance.now() - t0;
    recorder.kill('SIGTERM');
    await new Promise((r) => recorder.once('exit', r));
  }
  await q.obliterate({ force: true }).catch(() => {});
  await q.close();
  return { rate, catchUpMs };
}

const modes: Mode[] = ['off', 'on', 'on, PostgreSQL stopped'];
const results = new Map<Mode, { rate: number[]; catchUp: number[] }>(modes.map((m) => [m, { rate: [], catchUp: [] }]));
// Schema first, so that no round pays for the migration.
await new HistoryRecorder({ url: postgres.url, redis: admin, prefix: PREFIX, batch: 1 }).tick().catch(() => 0);
for (let r = 0; r < ROUNDS; r++) {
  for (const m of modes) {
    const x = await round(m);
    results.get(m)!.rate.push(x.rate);
    if (x.catchUpMs !== undefined) results.get(m)!.catchUp.push(x.catchUpMs);
    process.stderr.write(`round ${r + 1} ${m}: ${x.rate.toFixed(0)} jobs/s\n`);
  }
}
const off = median(results.get('off')!.rate);
const rows: string[][] = [['history', 'jobs/s', 'vs off', 'target', 'all in PostgreSQL after the round']];
for (const m of modes) {
  const rate = median(results.get(m)!.rate);
  const c = results.get(m)!.catchUp;
  rows.push([m, rate.toFixed(0), `${(rate / off).toFixed(3)}x`, m === 'off' ? '' : rate / off >= 0.95 ? '>= 0.95x ok' : '< 0.95x MISSED', c.length ? `${(median(c) / 1000).toFixed(1)} s` : '']);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(`${JOBS} no-op jobs per round, concurrency ${CONCURRENCY}, median of ${ROUNDS} alternating rounds (rate between the 10 % and 90 % job), one redis-server, one PostgreSQL\n`);
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
await db.end();
admin.disconnect();
await postgres.stop();
redis.stop();
process.exit(0);
