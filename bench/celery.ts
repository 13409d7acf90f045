/**
 * A Celery pool scaled three ways, on the same trace and the same Redis broker, with real Celery workers (Debian's
 * python3-celery under /usr/bin/python3), every worker started with the same command line (Trireme's: prefetch 1,
 * fair scheduling, events):
 *  - trireme: `trireme serve` with the local driver, the pool as examples/celery/trireme.yml sizes it;
 *  - seed: the seed deployment's script: poll LLEN of the queue every 60 s, the heavy tier's threshold (a task
 *    waiting), a step straight to the depth capped at max, 10 minutes between operations, off after 15 idle minutes,
 *    a scale-in as Compose does it (the newest workers, SIGTERM, SIGKILL 10 s later);
 *  - keda: KEDA's Redis-list rule, LLEN of the main list only against a target of 5 a replica, polled every 30 s,
 *    to zero after cooldownPeriod (300 s) inactive, with the HPA's defaults (scale-down stabilisation 300 s) and a
 *    scale-in as a ReplicaSet does it (the newest pods, SIGTERM, SIGKILL after the 30 s termination grace).
 * The two baselines' timers run ten times faster than theirs (--speed), the trace's tasks being seconds long, not
 * minutes; Trireme runs with its own timers, as configured below. Each run has its own folder, its own workers and a
 * flushed broker; what is measured: p95 queue wait (from the send to the task's first start), worker-seconds (worker
 * processes alive, sampled every 250 ms, over the same horizon for every run), and tasks killed mid-run (a start with
 * no end on that worker: the fixture task records both outside the broker).
 *
 *   npm run bench:celery [-- --speed 10 --horizon 150 --only trireme,keda]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { benchRedis } from './redis.js';
import { seeded } from '../test/helpers.js';

const { values } = parseArgs({ options: { speed: { type: 'string', default: '10' }, horizon: { type: 'string', default: '150' }, only: { type: 'string' } } });
const SPEED = Number(values.speed);
const HORIZON_S = Number(values.horizon);
const PYTHON = '/usr/bin/python3';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin/trireme.cjs');
const MAX = 4;
const CONCURRENCY = 2;

/**
 * Three bursts over 75 s: 30 short tasks, then 16 of which 8 run 10-15 s (the heavy tier's long ones), then 30 short
 * again. A third are sent with priority 6, which kombu's Redis transport keeps in a sub-list (`shap\x06\x166`).
 */
function trace(): [number, number, number, number][] {
  const rand = seeded(21);
  const out: [number, number, number, number][] = [];
  const burst = (at: number, n: number, seconds: () => number) => {
    for (let i = 0; i < n; i++) out.push([at + rand() * 5, out.length, Math.round(seconds() * 100) / 100, out.length % 3 === 0 ? 6 : 0]);
  };
  burst(0, 30, () => 1 + rand() * 3);
  burst(30, 8, () => 10 + rand() * 5);
  burst(30, 8, () => 1 + rand() * 3);
  burst(70, 30, () => 1 + rand() * 3);
  return out.sort((a, b) => a[0] - b[0]);
}

interface Rec { task: number; what: 'sent' | 'start' | 'end'; worker?: string; t: number }

/** Worker processes (the main one of each) working in `dir`: the pool's workers, whoever started them. */
function workersIn(dir: string): number {
  const pids = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/cwd`) !== dir) continue;
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('celery')) continue;
      pids.set(Number(d), Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]));
    } catch { /* gone */ }
  }
  return [...pids.values()].filter((ppid) => !pids.has(ppid)).length;
}

/** Workers a baseline script starts and stops itself, as its engine would. */
class Workers {
  private readonly live: { child: ChildProcess; at: number }[] = [];
  private seq = 0;
  constructor(private readonly dir: string, private readonly env: NodeJS.ProcessEnv) {}

  get count(): number { return this.live.length; }

  start(n: number): void {
    for (let i = 0; i < n; i++) {
      const child = spawn(PYTHON, ['-m', 'celery', '-A', 'celery_fixture', 'worker', '-Q', 'shap', '-c', String(CONCURRENCY), '-n', `w${this.seq++}@%h`, '-E', '-O', 'fair',
        '--prefetch-multiplier=1', '--without-mingle', '--without-gossip'], { cwd: this.dir, env: this.env, stdio: 'ignore', detached: true });
      this.live.push({ child, at: Date.now() });
    }
  }

  /** Stops the `n` newest: SIGTERM (Celery's warm shutdown), and SIGKILL to its group after `graceMs`. */
  stop(n: number, graceMs: number): void {
    for (const w of this.live.sort((a, b) => b.at - a.at).splice(0, n)) this.kill(w.child, graceMs);
  }

  private kill(child: ChildProcess, graceMs: number): void {
    child.kill('SIGTERM');
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
    child.once('exit', () => { clearTimeout(timer); try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } });
  }

  /** The end of a run: every worker's warm shutdown, waited for (running tasks finish). */
  async close(): Promise<void> {
    await Promise.all(this.live.splice(0).map((w) => new Promise<void>((done) => { w.child.once('exit', () => done()); w.child.kill('SIGTERM'); })));
  }
}

type Scaler = (o: { dir: string; env: NodeJS.ProcessEnv; broker: Redis }) => Promise<() => Promise<void>>;

/** The seed's script: a poll a minute, the heavy tier's rules (sim/seed.ts), Compose's scale-in. */
const seed: Scaler = async ({ dir, env, broker }) => {
  const w = new Workers(dir, env);
  let lastOp = -Infinity;
  let lastBusy = Date.now();
  const poll = async () => {
    const depth = await broker.llen('shap');
    const now = Date.now();
    if (depth > 0) lastBusy = now;
    const cooling = now - lastOp < 600_000 / SPEED;
    if (depth >= 1 && Math.min(MAX, depth) > w.count && !cooling) { w.start(Math.min(MAX, depth) - w.count); lastOp = now; }
    else if (depth === 0 && w.count > 0 && !cooling && now - lastBusy >= 900_000 / SPEED) { w.stop(w.count, 10_000 / SPEED); lastOp = now; }
  };
  const timer = setInterval(() => void poll(), 60_000 / SPEED);
  await poll();
  return async () => { clearInterval(timer); await w.close(); };
};

/** KEDA's Redis-list scaler on the main list, target 5, with the HPA's default behaviour and a ReplicaSet's scale-in. */
const keda: Scaler = async ({ dir, env, broker }) => {
  const w = new Workers(dir, env);
  let lastActive = -Infinity;
  const recommendations: { at: number; n: number }[] = [];
  const poll = async () => {
    const length = await broker.llen('shap');
    const now = Date.now();
    if (length > 0) lastActive = now;
    // Active: the HPA's ratio (at least one replica); inactive past cooldownPeriod: KEDA takes the Deployment to zero.
    const want = length > 0 ? Math.min(MAX, Math.max(1, Math.ceil(length / 5))) : now - lastActive < 300_000 / SPEED ? 1 : 0;
    recommendations.push({ at: now, n: want });
    while (recommendations[0].at < now - 300_000 / SPEED) recommendations.shift();
    // Scale-up at once; scale-down to the highest recommendation of the stabilisation window (zero is KEDA's own).
    const target = want > w.count ? want : want === 0 ? 0 : Math.max(...recommendations.map((r) => r.n));
    if (target > w.count) w.start(target - w.count);
    else if (target < w.count) w.stop(w.count - target, 30_000 / SPEED);
  };
  const timer = setInterval(() => void poll(), 30_000 / SPEED);
  await poll();
  return async () => { clearInterval(timer); await w.close(); };
};

/** Trireme: `serve` with the local driver, the pool sized as in examples/celery. */
const trireme: Scaler = async ({ dir, env }) => {
  const redis = await benchRedis();
  writeFileSync(join(dir, 'trireme.yml'), `
pools:
  shap:
    celery: { broker: ${JSON.stringify(env.CELERY_BROKER_URL)}, app: celery_fixture, queues: [shap], python: ${PYTHON} }
    concurrency: ${CONCURRENCY}
    drainGrace: 60s
    resources: { cpu: 0.25, memory: 128Mi }
    env: { CELERY_RECORD: ${JSON.stringify(env.CELERY_RECORD)} }
    scaling: { min: 0, max: ${MAX}, targetBacklogPerSlot: 2, cooldownDown: 10s, stabilization: 0, idleShutdown: 20s }
`);
  const serve = spawn(process.execPath, [CLI, '-c', join(dir, 'trireme.yml'), 'serve', '--no-api'], {
    env: { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_LOG_LEVEL: process.env.TRIREME_LOG_LEVEL ?? 'warn', TRIREME_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'inherit'], detached: true,
  });
  const r = new Redis(redis.url);
  while (!(await r.exists('trireme:~decisions'))) await new Promise((x) => setTimeout(x, 100));
  r.disconnect();
  return async () => {
    await new Promise<void>((done) => { serve.once('exit', () => done()); serve.kill('SIGTERM'); });
    redis.stop();
  };
};

interface Result { name: string; tasks: number; done: number; never: number; p95: number; workerSeconds: number; killed: number; twice: number; stuck: string }

async function run(name: string, scaler: Scaler, brokerUrl: string, broker: Redis): Promise<Result> {
  await broker.flushdb();
  const dir = mkdtempSync(join(tmpdir(), `trireme-bench-celery-${name}-`));
  for (const f of ['test/fixtures/celery/celery_fixture.py', 'bench/celery-send.py']) copyFileSync(join(ROOT, f), join(dir, f.split('/').pop()!));
  const record = join(dir, 'record.jsonl');
  const env = { ...process.env, CELERY_BROKER_URL: brokerUrl, CELERY_RECORD: record };
  const tasks = trace();
  const stop = await scaler({ dir, env, broker });
  const start = Date.now() / 1000 + 1;
  let workerSeconds = 0;
  const sampler = setInterval(() => { workerSeconds += workersIn(dir) * 0.25; }, 250);
  const sender = spawn(PYTHON, [join(dir, 'celery-send.py')], { cwd: dir, env, stdio: ['pipe', 'ignore', 'inherit'] });
  sender.stdin!.end(JSON.stringify({ start, tasks }));
  await new Promise((done) => setTimeout(done, (start + HORIZON_S) * 1000 - Date.now()));
  clearInterval(sampler);
  await stop();
  // What the broker still holds once every worker is gone: in its lists, or taken and never acknowledged.
  const lists = (await Promise.all(['shap', 'shap\x06\x163', 'shap\x06\x166', 'shap\x06\x169'].map((k) => broker.llen(k)))).reduce((a, b) => a + b, 0);
  const stuck = `${lists} queued, ${await broker.hlen('unacked')} unacked`;
  const recs: Rec[] = existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const waits = tasks.map(([, n]) => {
    const sent = recs.find((r) => r.task === n && r.what === 'sent')?.t;
    const first = Math.min(...recs.filter((r) => r.task === n && r.what === 'start').map((r) => r.t));
    // Never started within the horizon: it waited at least until the end.
    return sent === undefined ? HORIZON_S : (Number.isFinite(first) ? first : start + HORIZON_S) - sent;
  }).sort((a, b) => a - b);
  const starts = recs.filter((r) => r.what === 'start');
  const ended = (s: Rec) => recs.some((e) => e.what === 'end' && e.task === s.task && e.worker === s.worker);
  return {
    name, tasks: tasks.length,
    done: new Set(recs.filter((r) => r.what === 'end').map((r) => r.task)).size,
    never: tasks.length - new Set(starts.map((r) => r.task)).size,
    p95: waits[Math.ceil(0.95 * waits.length) - 1],
    workerSeconds,
    killed: starts.filter((s) => !ended(s)).length,
    twice: new Set(starts.map((s) => s.task)).size < starts.length ? starts.length - new Set(starts.map((s) => s.task)).size : 0,
    stuck,
  };
}

const brokerServer = await benchRedis();
const brokerUrl = `${brokerServer.url}/0`;
const broker = new Redis(brokerUrl);
const results: Result[] = [];
try {
  for (const [name, scaler] of ([['trireme', trireme], ['seed', seed], ['keda', keda]] as const).filter(([n]) => !values.only || values.only.split(',').includes(n))) {
    process.stderr.write(`bench:celery: ${name} (${HORIZON_S} s)...\n`);
    results.push(await run(name, scaler, brokerUrl, broker));
  }
} finally {
  broker.disconnect();
  brokerServer.stop();
}
const base = results[0];
const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? '1.00' : '-') : (a / b).toFixed(2));
const rows = [
  ['scaler', 'tasks done', 'never started', 'p95 wait s', 'worker-s', 'killed mid-run', 'run twice', 'left in the broker', `p95 / ${base.name}`, `worker-s / ${base.name}`],
  ...results.map((r) => [r.name, `${r.done}/${r.tasks}`, String(r.never), r.p95.toFixed(1), r.workerSeconds.toFixed(0), String(r.killed), String(r.twice), r.stuck, ratio(r.p95, base.p95), ratio(r.workerSeconds, base.workerSeconds)]),
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n')}\n`);
process.stdout.write(`\nsame trace (${base.tasks} tasks over 75 s), same Redis broker, horizon ${HORIZON_S} s; seed and keda timers at 1/${SPEED} of theirs\n`);
