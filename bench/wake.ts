/**
 * Submit -> start latency for a pool at zero, through a real `trireme serve`: how long after a submit the replica is
 * spawned (the on-submit wake, without waiting for the 2 s reconcile loop) and how long until the job starts
 * (spawn + worker boot + fetch). Each try waits for the pool to be back at zero first.
 *
 *   npm run bench:wake [-- --tries 20]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project/project.js';
import { TriremeClient } from '../src/jobs/client.js';
import { ReplicaRegistry } from '../src/stores/registry.js';
import { ControlStore } from '../src/stores/control-store.js';
import { benchRedis } from './redis.js';

const { values } = parseArgs({ options: { tries: { type: 'string', default: '20' } } });
const TRIES = Number(values.tries);
const config = fileURLToPath(new URL('./wake.yml', import.meta.url));
const cli = fileURLToPath(new URL('../bin/trireme.cjs', import.meta.url));

const redis = await benchRedis();
const project = await loadProject(config, { TRIREME_REDIS_URL: redis.url });
const client = new TriremeClient(project, redis.url);
const registry = new ReplicaRegistry(client.redis, project.config.prefix);
const store = new ControlStore(client.redis, project.config.prefix);
const serve = spawn(process.execPath, [cli, '-c', config, 'serve', '--grace', '5s'], { env: { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_LOG_LEVEL: 'warn' }, stdio: 'inherit' });

const until = async (cond: () => Promise<boolean>) => { while (!(await cond())) await new Promise((r) => setTimeout(r, 20)); };
const spawnMs: number[] = [];
const startMs: number[] = [];
await until(async () => (await store.decisions()).heavy !== undefined);
for (let i = 0; i < TRIES; i++) {
  await until(async () => (await registry.list('heavy')).length === 0 && (await store.decisions()).heavy?.current === 0);
  const seen = (await store.events(1))[0]?.at ?? 0;
  const t0 = Date.now();
  const job = await client.submit('bench.noop', {});
  await client.waitFor(job.id, 30_000);
  const view = await client.getJob(job.id);
  const up = (await store.events(5)).find((e) => e.at > seen && e.to > e.from);
  spawnMs.push((up?.at ?? NaN) - t0);
  startMs.push(view!.startedAt! - t0);
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
console.log(`\n${TRIES} tries, pool at zero each time (controller loop 2 s; the wake does not wait for it)\n`);
console.log('measure                       p50 ms   p95 ms   max ms');
for (const [name, xs] of [['submit -> replica spawned', spawnMs], ['submit -> job started', startMs]] as const) {
  console.log(`${name.padEnd(28)}${String(pct(xs, 50)).padStart(7)}  ${String(pct(xs, 95)).padStart(7)}  ${String(Math.max(...xs)).padStart(7)}`);
}
serve.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
await client.close();
redis.stop();
process.exit(0);
