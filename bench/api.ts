/**
 * API latency under load: `GET /pools` and `GET /metrics` of a real `trireme serve`, first with no jobs flowing (the
 * baseline, same run) and then while a separate process submits N jobs/s that two replicas run. Reports p50/p95/p99
 * and the loaded/idle ratio, and the job rate that actually flowed (from the completion counters). Target: p99 under
 * 50 ms at 2 000 jobs/s.
 *
 *   npm run bench:api [-- --rate 2000 --seconds 20]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../src/project/project.js';
import { ControlStore } from '../src/stores/control-store.js';
import { connect } from '../src/redis/connection.js';
import { benchRedis } from './redis.js';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '20' } } });
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const config = fileURLToPath(new URL('./api.yml', import.meta.url));
const cli = fileURLToPath(new URL('../bin/trireme.cjs', import.meta.url));
const loader = fileURLToPath(new URL('./api-load.ts', import.meta.url));

const redis = await benchRedis();
const env = { ...process.env, TRIREME_REDIS_URL: redis.url, TRIREME_LOG_LEVEL: 'warn' };
const children: ChildProcess[] = [];
const serve = spawn(process.execPath, [cli, '-c', config, 'serve', '--port', '0'], { env, stdio: ['ignore', 'inherit', 'pipe'] });
children.push(serve);
const base = await new Promise<string>((resolve) => {
  let out = '';
  serve.stderr!.on('data', (d) => {
    out += d;
    const m = /dashboard and API at (http:\/\/[^\s/]+)\//.exec(out);
    if (m) resolve(m[1]);
  });
});
const project = await loadProject(config, env);
const store = new ControlStore(connect(redis.url), project.config.prefix);

const until = async (cond: () => Promise<boolean>) => { while (!(await cond())) await new Promise((r) => setTimeout(r, 100)); };
await until(async () => ((await (await fetch(`${base}/pools/flow`)).json()) as { replicas: { idle: number } }).replicas.idle === 2);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** Alternates GET /pools and GET /metrics back to back for `seconds`; latencies in ms by path. */
async function measure(seconds: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { '/pools': [], '/metrics': [] };
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (const path of Object.keys(out)) {
      const t0 = performance.now();
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
      out[path].push(performance.now() - t0);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return out;
}

const completed = async () => (await store.stats(['flow'])).get('flow')!.completed;
const idle = await measure(Math.min(10, SECONDS));
const load = spawn(process.execPath, ['--import', 'tsx', loader, config, String(RATE)], { env, stdio: 'inherit' });
children.push(load);
await new Promise((r) => setTimeout(r, 3_000)); // let the flow settle
const c0 = await completed();
const t0 = performance.now();
const busy = await measure(SECONDS);
const flowed = ((await completed()) - c0) / ((performance.now() - t0) / 1000);
const backlog = (await (await fetch(`${base}/pools/flow`)).json() as { depths: { waiting: number } }).depths.waiting;

const rows = [['endpoint', 'phase', 'requests', 'p50 ms', 'p95 ms', 'p99 ms', 'p99 vs idle']];
for (const path of Object.keys(idle)) {
  for (const [phase, xs] of [['idle', idle[path]], [`${RATE} jobs/s`, busy[path]]] as const) {
    rows.push([path, phase, String(xs.length), pct(xs, 50).toFixed(1), pct(xs, 95).toFixed(1), pct(xs, 99).toFixed(1),
      phase === 'idle' ? '1.00x' : `${(pct(xs, 99) / pct(idle[path], 99)).toFixed(2)}x`]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n'));
console.log(`\njobs completed while measuring: ${flowed.toFixed(0)}/s (asked for ${RATE}/s); waiting at the end: ${backlog}`);
const worst = Math.max(pct(busy['/pools'], 99), pct(busy['/metrics'], 99));
console.log(`target p99 < 50 ms under load: ${worst < 50 ? 'met' : 'MISSED'} (worst p99 ${worst.toFixed(1)} ms)`);

for (const c of children.reverse()) c.kill('SIGTERM');
await new Promise((r) => serve.once('exit', r));
redis.stop();
process.exit(0);
