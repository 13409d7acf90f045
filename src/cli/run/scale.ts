/** The bodies of `trireme status`, `scale`, `pause` and `resume`. */
import type { Command } from 'commander';
import { ControlStore } from '../../stores/control-store.js';
import { Inspector } from '../../control/inspect.js';
import { formatDuration, formatSize } from '../../core/units.js';
import { table, UsageError, withRedis } from '../common.js';
import { pinAboveMax } from '../../core/replica.js';
import type { Project } from '../../project/project.js';

function poolArg(p: Project, pool: string): void {
  if (!Object.hasOwn(p.config.pools, pool)) throw new UsageError(`no pool "${pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
}

/** The oldest wait as people read it: "-" when none waits, "?" when the source cannot tell. */
const oldest = (seconds: number | null) => (seconds === null ? '?' : seconds === 0 ? '-' : formatDuration(seconds < 1 ? seconds * 1000 : Math.floor(seconds) * 1000));

export async function status(cmd: Command, o: { json?: boolean }): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    const inspector = new Inspector(p, redis);
    const [pools, leader, standbys] = await Promise.all([inspector.pools(), inspector.leader(), inspector.standbys()]);
    if (o.json) { process.stdout.write(`${JSON.stringify({ leader, pools, standbys }, null, 2)}\n`); return; }
    // A decision older than a few loops was made by a controller that is gone: say so rather than show it as current.
    const interval = p.config.controller.interval;
    const stale = (at: number) => (Date.now() - at > 3 * interval + 2_000 ? `  (stale: ${formatDuration(Date.now() - at)} old)` : '');
    const rows = [['POOL', 'REPLICAS (s/i/b/d)', 'WANT', 'MIN-MAX', 'WAITING', 'OLDEST WAIT', 'RUNNING', 'FAILED', 'IN/S', 'OUT/S', 'AUTOSCALING', 'LAST DECISION']];
    for (const x of pools) {
      const r = x.replicas;
      // A pool of another kind says so (its jobs are listed by its own tools).
      rows.push([x.jobsElsewhere ? `${x.name} (${x.kind})` : x.name, `${r.current} (${r.starting}/${r.idle}/${r.busy}/${r.draining})`, String(r.desired ?? '-'), `${x.scaling.min}-${x.scaling.max}`,
        String(x.depths.waiting), oldest(x.depths.oldestWaitSeconds), String(x.depths.running), String(x.depths.failed), x.rates.in.toFixed(1), x.rates.out.toFixed(1),
        x.autoscaling + (x.pinned !== undefined ? ` (pinned ${x.pinned})` : ''),
        x.decision ? `${x.decision.reason}${x.decision.health ? `  [${x.decision.health}]` : ''}${x.decision.flapsLastHour ? `  [${x.decision.flapsLastHour} flaps in the last hour]` : ''}${stale(x.decision.at)}` : '-']);
    }
    process.stdout.write(table(rows));
    // Rate-limited queues drain no faster than their limit; the autoscaler sizes the pool to it (the reason says so).
    const limited = pools.flatMap((x) => Object.entries(x.rateLimits).map(([q, l]) => `${q} (${x.name}) ${l.text}`));
    if (limited.length) process.stdout.write(`rate limits: ${limited.join('; ')}\n`);
    if (standbys.length) {
      process.stdout.write(`standby: ${standbys.map((s) => `${s.pool || 'any pool'} on ${s.host} (pid ${s.pid}, ${formatSize(s.rss)})`).join('; ')}\n`);
    }
    process.stdout.write(`controller: ${leader ?? 'none holds the lease (is trireme serve running?)'}\n`);
  }, { start: false });
}

export async function pin(cmd: Command, pool: string, n: string): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    poolArg(p, pool);
    const replicas = Number(n);
    if (!/^\d+$/.test(n.trim()) || !Number.isSafeInteger(replicas)) throw new UsageError(`replicas must be a whole number >= 0, got "${n}"`);
    const above = pinAboveMax(pool, replicas, p.config.pools[pool].scaling.max);
    if (above) throw new UsageError(above);
    await new ControlStore(redis, p.config.prefix).setReplicas(pool, replicas);
    process.stdout.write(`${pool}: pinned at ${replicas} replica(s), autoscaling paused\n`);
  }, { start: false });
}

export async function toggle(cmd: Command, pool: string, verb: 'pause' | 'resume'): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    poolArg(p, pool);
    await new ControlStore(redis, p.config.prefix)[verb](pool);
    process.stdout.write(`${pool}: ${verb === 'pause' ? 'autoscaling paused' : 'autoscaling on'}\n`);
  }, { start: false });
}
