/** `trireme status`, `scale`, `pause`, `resume`: thin clients of the state the controller keeps in Redis. */
import type { Command } from 'commander';
import { connect } from '../queue/connection.js';
import { ControlStore } from '../queue/control-store.js';
import { ReplicaRegistry } from '../queue/registry.js';
import { queueDepths } from '../queue/counts.js';
import { Lease } from '../queue/lease.js';
import { action, project, redisFor, UsageError, type GlobalOpts } from './common.js';
import type { Project } from '../project.js';

async function withStore<T>(cmd: Command, fn: (p: Project, store: ControlStore, redis: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const p = await project(cmd.optsWithGlobals() as GlobalOpts);
  const { url } = await redisFor(p, { quiet: true });
  const redis = connect(url, 'trireme-cli');
  try { return await fn(p, new ControlStore(redis, p.config.prefix), redis); } finally { redis.disconnect(); }
}

function poolArg(p: Project, pool: string): void {
  if (!p.config.pools[pool]) throw new UsageError(`no pool "${pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
}

export function registerScale(program: Command): void {
  program.command('status')
    .description('pools at a glance: replicas by state, queue depths, the last decision and its reason')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => withStore(cmd, async (p, store, redis) => {
      const [decisions, overrides, replicas, leader] = await Promise.all([
        store.decisions(), store.overrides(), new ReplicaRegistry(redis, p.config.prefix).list(),
        new Lease(redis, p.config.prefix, 'cli', 1).currentHolder(),
      ]);
      const pools = await Promise.all(Object.entries(p.config.pools).map(async ([name, pool]) => {
        const depths = await queueDepths(redis, p.config.prefix, pool.queues, Date.now(), 0);
        const mine = replicas.filter((r) => r.pool === name);
        const by = (s: string) => mine.filter((r) => r.state === s).length;
        return {
          pool: name, min: pool.scaling.min, max: pool.scaling.max,
          replicas: { starting: by('starting'), idle: by('idle'), busy: by('busy'), draining: by('draining') },
          waiting: depths.reduce((n, d) => n + d.waiting + d.prioritized, 0), running: depths.reduce((n, d) => n + d.active, 0),
          delayed: depths.reduce((n, d) => n + d.delayed, 0), failed: depths.reduce((n, d) => n + d.failed, 0),
          autoscaling: overrides[name]?.paused ? 'paused' : 'on', decision: decisions[name],
        };
      }));
      if (o.json) { process.stdout.write(`${JSON.stringify({ leader, pools }, null, 2)}\n`); return; }
      const rows = [['POOL', 'REPLICAS (s/i/b/d)', 'MIN-MAX', 'WAITING', 'RUNNING', 'FAILED', 'AUTOSCALING', 'LAST DECISION']];
      for (const x of pools) {
        const r = x.replicas;
        rows.push([x.pool, `${r.starting + r.idle + r.busy} (${r.starting}/${r.idle}/${r.busy}/${r.draining})`, `${x.min}-${x.max}`, String(x.waiting), String(x.running), String(x.failed), x.autoscaling,
          x.decision ? `${x.decision.reason}${x.decision.health ? `  [${x.decision.health}]` : ''}` : '-']);
      }
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      process.stdout.write(rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n');
      process.stdout.write(`controller: ${leader ?? 'none holds the lease (is trireme serve running?)'}\n`);
    })));

  program.command('scale')
    .description('pin a pool at N replicas and pause its autoscaling (undo with: trireme resume POOL)')
    .argument('<pool>').argument('<replicas>')
    .action(action(async (pool: string, n: string, _o: unknown, cmd: Command) => withStore(cmd, async (p, store) => {
      poolArg(p, pool);
      const replicas = Number(n);
      if (!Number.isInteger(replicas) || replicas < 0) throw new UsageError(`replicas must be a whole number >= 0, got "${n}"`);
      await store.setReplicas(pool, replicas);
      process.stdout.write(`${pool}: pinned at ${replicas} replica(s), autoscaling paused\n`);
    })));

  const toggles = [
    { verb: 'pause', description: 'pause autoscaling for a pool: it keeps its current replicas', apply: (st: ControlStore, pool: string) => st.pause(pool), said: 'autoscaling paused' },
    { verb: 'resume', description: 'give a pool back to the autoscaler (clears a pinned replica count)', apply: (st: ControlStore, pool: string) => st.resume(pool), said: 'autoscaling on' },
  ];
  for (const t of toggles) {
    program.command(t.verb)
      .description(t.description)
      .argument('<pool>')
      .action(action(async (pool: string, _o: unknown, cmd: Command) => withStore(cmd, async (p, store) => {
        poolArg(p, pool);
        await t.apply(store, pool);
        process.stdout.write(`${pool}: ${t.said}\n`);
      })));
  }
}
