/** The bodies of `trireme workers` and `trireme doctor`. */
import type { Command } from 'commander';
import { Inspector } from '../../control/inspect.js';
import { runChecks } from '../../control/doctor.js';
import { connect, describeUrl } from '../../redis/connection.js';
import { formatSize, parseDuration } from '../../core/units.js';
import type { RunnerStatus } from '../../core/records.js';
import { ago, globals, project, redisFor, table, UsageError, withRedis } from '../common.js';

export async function workers(cmd: Command, o: { pool?: string; json?: boolean }): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    const w = await new Inspector(p, redis).workers(o.pool);
    if (o.json) { process.stdout.write(`${JSON.stringify(w, null, 2)}\n`); return; }
    const anyRunners = w.replicas.some((r) => r.runners?.length);
    const rows = [['ID', 'POOL', 'HOST', 'PID/CONTAINER', 'STATE', 'STARTED', 'LAST ACTIVITY', 'JOBS', 'RUNNING', 'CPU', 'MEMORY', ...(anyRunners ? ['RUNNERS'] : [])]];
    for (const r of w.replicas) {
      // The replica with its runners and command programs (its process tree); "-" where it cannot read /proc.
      const cpu = r.cpuPercent !== undefined ? `${Math.round(r.cpuPercent)}%` : '-';
      const memory = r.rss !== undefined ? `${formatSize(r.rss)}${r.processes && r.processes > 1 ? ` (${r.processes} procs)` : ''}${r.gpuMemory ? `, GPU ${formatSize(r.gpuMemory)}` : ''}` : '-';
      rows.push([r.id, r.pool, r.host, r.container ?? String(r.pid), r.state, `${ago(r.startedAt)} ago`, `${ago(r.lastActivity)} ago`, String(r.jobsDone), `${r.running}/${r.concurrency}`, cpu, memory,
        ...(anyRunners ? [runnerSummary(r.runners ?? [])] : [])]);
    }
    process.stdout.write(w.total ? table(rows) : 'no live replicas\n');
    process.stdout.write(`${w.total} replica(s): ${Object.entries(w.byState).map(([s, n]) => `${n} ${s}`).join(', ')}\n`);
  }, { start: false });
}

/** `ml 2/2 up, start 2.1s`: each warm runner's processes up and its last start-up (what a cold start costs). */
function runnerSummary(runners: RunnerStatus[]): string {
  if (!runners.length) return '-';
  return runners.map((x) => `${x.name} ${x.idle + x.busy}/${x.size} up${x.starting ? `, ${x.starting} loading` : ''}${x.lastStartupMs !== undefined ? `, start ${(x.lastStartupMs / 1000).toFixed(1)}s` : ''}${x.lastError ? ', failing to start' : ''}`).join('; ');
}

export async function drain(cmd: Command, id: string, o: { wait?: boolean; timeout: string }): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    const registry = new Inspector(p, redis).registry;
    const find = async () => (await registry.list()).find((r) => r.id === id);
    if (!(await find())) throw new UsageError(`no live replica "${id}"; trireme workers lists them`);
    await registry.requestDrain(id);
    if (!o.wait) { process.stdout.write(`${id}: draining\n`); return; }
    const end = Date.now() + parseDuration(o.timeout);
    for (;;) {
      const r = await find();
      if (!r || (r.state === 'draining' && r.running === 0)) break;
      if (Date.now() > end) { process.stdout.write(`${id}: still running ${r.running} job(s) after ${o.timeout}\n`); process.exitCode = 1; return; }
      await new Promise((res) => setTimeout(res, 250));
    }
    process.stdout.write(`${id}: drained\n`);
  }, { start: false });
}

export async function doctor(cmd: Command, o: { json?: boolean }): Promise<void> {
  // The whole project, task modules included: a module that fails to load is something to report.
  const p = await project(globals(cmd));
  // Looking never starts a server: with no Redis running, that is the finding.
  const url = await redisFor(p, { start: false, probe: false }).then((r) => r.url, () => undefined);
  const redis = url ? connect(url, 'trireme-cli') : undefined;
  try {
    const checks = await runChecks(p, redis, { url, redisLabel: url ? describeUrl(url) : 'the private redis-server beside the config (none is running)' });
    if (o.json) process.stdout.write(`${JSON.stringify({ checks }, null, 2)}\n`);
    else process.stdout.write(table(checks.map((c) => [c.status === 'ok' ? 'ok' : c.status === 'warn' ? 'WARN' : 'FAIL', c.name, c.detail])));
    if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
  } finally {
    redis?.disconnect();
  }
}
