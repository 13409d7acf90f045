/** `trireme status`, `scale`, `pause`, `resume`: thin clients of the state the controller keeps in Redis. */
import type { Command } from 'commander';
import { ControlStore } from '../queue/control-store.js';
import { Inspector } from '../control/inspect.js';
import { action, table, UsageError, withRedis } from './common.js';
import type { Project } from '../project.js';

/** A verb that writes an override: the project and its control store, connected for the verb's duration. */
const withStore = <T>(cmd: Command, fn: (p: Project, store: ControlStore) => Promise<T>): Promise<T> =>
  withRedis(cmd, (p, redis) => fn(p, new ControlStore(redis, p.config.prefix)));

function poolArg(p: Project, pool: string): void {
  if (!p.config.pools[pool]) throw new UsageError(`no pool "${pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
}

export function registerScale(program: Command): void {
  program.command('status')
    .description('pools at a glance: replicas by state, queue depths, the last decision and its reason')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => withRedis(cmd, async (p, redis) => {
      const inspector = new Inspector(p, redis);
      const [pools, leader] = await Promise.all([inspector.pools(), inspector.leader()]);
      if (o.json) { process.stdout.write(`${JSON.stringify({ leader, pools }, null, 2)}\n`); return; }
      const rows = [['POOL', 'REPLICAS (s/i/b/d)', 'WANT', 'MIN-MAX', 'WAITING', 'RUNNING', 'FAILED', 'IN/S', 'OUT/S', 'AUTOSCALING', 'LAST DECISION']];
      for (const x of pools) {
        const r = x.replicas;
        rows.push([x.name, `${r.current} (${r.starting}/${r.idle}/${r.busy}/${r.draining})`, String(r.desired ?? '-'), `${x.scaling.min}-${x.scaling.max}`,
          String(x.depths.waiting), String(x.depths.running), String(x.depths.failed), x.rates.in.toFixed(1), x.rates.out.toFixed(1),
          x.autoscaling + (x.pinned !== undefined ? ` (pinned ${x.pinned})` : ''),
          x.decision ? `${x.decision.reason}${x.decision.health ? `  [${x.decision.health}]` : ''}` : '-']);
      }
      process.stdout.write(table(rows));
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
