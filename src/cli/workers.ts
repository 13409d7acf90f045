/** `trireme workers` and `trireme doctor`: what runs, and whether the whole thing is healthy. */
import type { Command } from 'commander';
import { Inspector } from '../control/inspect.js';
import { runChecks } from '../control/doctor.js';
import { describeUrl } from '../queue/connection.js';
import { action, ago, table, withRedis } from './common.js';

export function registerWorkers(program: Command): void {
  program.command('workers')
    .description('every live replica: pool, host, pid or container, state, started, last activity, jobs done, running')
    .option('-p, --pool <pool>', 'only this pool')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { pool?: string; json?: boolean }, cmd: Command) => withRedis(cmd, async (p, redis) => {
      const w = await new Inspector(p, redis).workers(o.pool);
      if (o.json) { process.stdout.write(`${JSON.stringify(w, null, 2)}\n`); return; }
      const rows = [['ID', 'POOL', 'HOST', 'PID/CONTAINER', 'STATE', 'STARTED', 'LAST ACTIVITY', 'JOBS', 'RUNNING']];
      for (const r of w.replicas) rows.push([r.id, r.pool, r.host, r.container ?? String(r.pid), r.state, `${ago(r.startedAt)} ago`, `${ago(r.lastActivity)} ago`, String(r.jobsDone), `${r.running}/${r.concurrency}`]);
      process.stdout.write(w.total ? table(rows) : 'no live replicas\n');
      process.stdout.write(`${w.total} replica(s): ${Object.entries(w.byState).map(([s, n]) => `${n} ${s}`).join(', ')}\n`);
    })));

  program.command('doctor')
    .description('health checks: Redis, controller lease and loop, replicas per pool, disk, memory, shared storage; exit 1 on a failure')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => withRedis(cmd, async (p, redis, url) => {
      const checks = await runChecks(p, redis, { redisLabel: describeUrl(url) });
      if (o.json) process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
      else process.stdout.write(table(checks.map((c) => [c.status === 'ok' ? 'ok' : c.status === 'warn' ? 'WARN' : 'FAIL', c.name, c.detail])));
      if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
    })));
}
