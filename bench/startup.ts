/**
 * Start-up costs, measured in one run on this machine, each beside its baseline:
 *  - `trireme --help` and `trireme status` (against a live Redis), against `node -e 0`;
 *  - spawn -> replica ready (its "replica started" line), reading trireme.yml and from serve's config snapshot;
 *  - submit -> job started for the example's heavy pool from zero, through a real `serve`, with and without its
 *    standby (20 tries each; the pool is put back to zero between tries by a pin and a resume, so the example's
 *    config runs unchanged);
 *  - the memory (RSS) of an idle replica and of a standby;
 *  - a 1 s job in each isolation mode, submit -> finished, once the pool is warm.
 * Targets (issue 11): --help <= 150 ms; spawn -> ready <= 300 ms; cold heavy start p95 <= 500 ms without the
 * standby, p50 <= 50 ms with it; standby <= 80 MB; a 1 s job <= 1.1 s in every mode.
 *
 *   npm run bench:startup [-- --tries 20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject, writeSnapshot } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { ReplicaRegistry, StandbyRegistry } from '../src/stores/registry.js';
import { ControlStore } from '../src/stores/control-store.js';
import { benchRedis } from './redis.js';

const { values } = parseArgs({ options: { tries: { type: 'string', default: '20' } } });
const TRIES = Number(values.tries);
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'bin/trireme.cjs');
const example = join(root, 'examples/three-tier/trireme.yml');
const redis = await benchRedis();
const env = { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json', TRIREME_LOG_LEVEL: 'info' };
const rows: string[][] = [['measure', 'n', 'p50', 'p95', 'max', 'baseline p50', 'target', 'verdict']];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
const ms = (n: number) => `${n.toFixed(0)} ms`;
const until = async (what: string, cond: () => Promise<boolean> | boolean, limitMs = 60_000) => {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`bench: gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const row = (name: string, xs: number[], target: { stat: 'p50' | 'p95'; max: number } | undefined, baseline?: number[], unit = ms) => {
  const value = target ? pct(xs, target.stat === 'p50' ? 50 : 95) : 0;
  rows.push([name, String(xs.length), unit(pct(xs, 50)), unit(pct(xs, 95)), unit(Math.max(...xs)), baseline ? unit(pct(baseline, 50)) : '',
    target ? `${target.stat} <= ${unit(target.max)}` : '', target ? (value <= target.max ? 'ok' : 'MISSED') : '']);
};

/** Wall time of a command from spawn to exit, N times. */
async function timed(argv: string[], n: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((done, fail) => {
      const c = spawn(process.execPath, argv, { env: { ...env, ...extraEnv }, stdio: 'ignore' });
      c.once('exit', (code) => (code === 0 ? done() : fail(new Error(`${argv.join(' ')} exited ${code}`))));
    });
    out.push(performance.now() - t0);
  }
  return out;
}

// 1. The command itself.
const node0 = await timed(['-e', '0'], TRIES);
row('trireme --help', await timed([cli, '--help'], TRIES), { stat: 'p50', max: 150 }, node0);
row('trireme status (live Redis)', await timed([cli, '-c', example, 'status'], TRIES), undefined, node0);

// 2. Spawn -> replica ready, and an idle replica's memory.
const project = await loadProject(example, { TRIREME_REDIS_URL: redis.url });
const snapshotDir = mkdtempSync(join(tmpdir(), 'trireme-bench-'));
const snapshot = await writeSnapshot(project, join(snapshotDir, 'config.json'));
async function spawnToReady(extraEnv: NodeJS.ProcessEnv): Promise<{ ms: number; rss: number }> {
  const t0 = performance.now();
  const c = spawn(process.execPath, [cli, '-c', example, 'worker', '--pool', 'light'], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
  const readyMs = await new Promise<number>((done) => {
    let buf = '';
    c.stderr!.on('data', (d) => { buf += d; if (buf.includes('"msg":"replica started"')) done(performance.now() - t0); });
  });
  await new Promise((r) => setTimeout(r, 300)); // idle a moment: what a replica holds at rest
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${c.pid}/status`, 'utf8'))![1]) * 1024;
  c.kill('SIGTERM');
  await new Promise((r) => c.once('exit', r));
  return { ms: readyMs, rss };
}
for (const [name, extra] of [['spawn -> replica ready (reads trireme.yml)', {}], ['spawn -> replica ready (serve\'s snapshot)', snapshot]] as const) {
  const runs: { ms: number; rss: number }[] = [];
  for (let i = 0; i < Math.min(TRIES, 10); i++) runs.push(await spawnToReady(extra));
  row(name, runs.map((r) => r.ms), { stat: 'p50', max: 300 }, node0);
  if (Object.keys(extra).length) row('idle replica RSS (light pool)', runs.map((r) => r.rss), undefined, undefined, (b) => `${(b / 1024 ** 2).toFixed(0)} MB`);
}

// 3. The example's heavy pool from zero through a real serve, with and without its standby.
const client = new TriremeClient(project, redis.url);
const registry = new ReplicaRegistry(client.redis, project.config.prefix);
const standbys = new StandbyRegistry(client.redis, project.config.prefix);
const store = new ControlStore(client.redis, project.config.prefix);
const variant = join(root, 'examples/three-tier/.bench-no-standby.yml');
writeFileSync(variant, readFileSync(example, 'utf8').replace('    drainGrace: 60s\n', '    drainGrace: 60s\n    standby: false\n'));
const standbyRss: number[] = [];
for (const [label, config] of [['with its standby', example], ['without a standby', variant]] as const) {
  const serve: ChildProcess = spawn(process.execPath, [cli, '-c', config, 'serve', '--no-api', '--grace', '5s'], { env, stdio: ['ignore', 'ignore', 'ignore'] });
  await until('the light pool at its min', async () => (await registry.list('light')).filter((r) => r.state === 'idle').length >= 2);
  const started: number[] = [];
  for (let i = 0; i < TRIES; i++) {
    // Back to zero: pin at 0 (idle replicas drain at once), wait until they are gone, give the pool back.
    await store.setReplicas('heavy', 0);
    await until('the heavy pool at zero', async () => (await registry.list('heavy')).length === 0);
    await store.resume('heavy');
    if (config === example) {
      await until('the heavy standby', async () => (await standbys.list()).some((s) => s.pool === 'heavy'));
      standbyRss.push(...(await standbys.list()).filter((s) => s.pool === 'heavy').map((s) => s.rss));
    }
    const t0 = Date.now();
    const job = await client.submit('shap.explain', { ms: 10 });
    await client.waitFor(job.id, 30_000);
    started.push((await client.getJob(job.id))!.startedAt! - t0);
  }
  row(`heavy pool from zero: submit -> job started, ${label}`, started, config === example ? { stat: 'p50', max: 50 } : { stat: 'p95', max: 500 });
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));
}
rmSync(variant, { force: true });
row('standby RSS (heavy pool\'s own; its warm runner not counted)', standbyRss, { stat: 'p50', max: 80 * 1024 ** 2 }, undefined, (b) => `${(b / 1024 ** 2).toFixed(0)} MB`);

// 4. A 1 s job in each isolation mode once the pool is warm.
// Beside the example, so that its tasks module (which imports from 'trireme-jobs') resolves as it does there.
const isoConfig = join(root, 'examples/three-tier/.bench-isolation.yml');
writeFileSync(isoConfig, `tasks: [./tasks.ts]
capacity: { overcommit: 4 }
routes:
  - { match: "api.*", queue: inproc }
  - { match: "reports.*", queue: thread }
  - { match: "shap.*", queue: proc }
pools:
  inproc: { queues: [inproc, default], isolation: in-process, scaling: { min: 1, max: 1 } }
  thread: { queues: [thread], isolation: thread, scaling: { min: 1, max: 1 } }
  proc: { queues: [proc], isolation: process, scaling: { min: 1, max: 1 } }
`);
const isoProject = await loadProject(isoConfig, { TRIREME_REDIS_URL: redis.url });
const isoClient = new TriremeClient(isoProject, redis.url);
const isoRegistry = new ReplicaRegistry(isoClient.redis, isoProject.config.prefix);
const serve = spawn(process.execPath, [cli, '-c', isoConfig, 'serve', '--no-api', '--grace', '5s'], { env, stdio: 'ignore' });
await until('one idle replica in each isolation mode', async () => (await isoRegistry.list()).filter((r) => r.state === 'idle').length === 3);
for (const [mode, task] of [['in-process', 'api.ping'], ['thread', 'reports.daily'], ['process', 'shap.explain']] as const) {
  await isoClient.waitFor((await isoClient.submit(task, { ms: 10 })).id, 30_000); // warm
  const took: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    const job = await isoClient.submit(task, { ms: 1000 });
    await isoClient.waitFor(job.id, 30_000);
    took.push((await isoClient.getJob(job.id))!.finishedAt! - t0);
  }
  row(`1 s job, ${mode}, warm: submit -> finished`, took, { stat: 'p95', max: 1100 });
}
serve.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
rmSync(isoConfig, { force: true });

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(`\nstart-up on this machine (${TRIES} tries where it says n; node -e 0 as the baseline)\n`);
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
await client.close();
await isoClient.close();
redis.stop();
process.exit(0);
