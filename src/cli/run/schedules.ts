/** The body of `trireme schedules`. */
import type { Command } from 'commander';
import { Inspector } from '../../control/inspect.js';
import { ago, table, withRedis } from '../common.js';

/** "in 12s", "in 3m"; "due" for a time passed. */
function until(at: number | undefined, now = Date.now()): string {
  if (at === undefined) return '-';
  return at <= now ? 'due' : `in ${ago(now, at)}`;
}

export async function schedules(cmd: Command, o: { json?: boolean }): Promise<void> {
  await withRedis(cmd, async (p, redis) => {
    const list = await new Inspector(p, redis).schedules();
    if (o.json) { process.stdout.write(`${JSON.stringify({ schedules: list }, null, 2)}\n`); return; }
    if (!list.length) { process.stdout.write(`no schedules in ${p.configPath ?? 'the config'} (add them under schedules:, see docs/operations.md)\n`); return; }
    const rows = [['NAME', 'TASK', 'QUEUE (POOL)', 'WHEN', 'STATE', 'NEXT RUN', 'RUNS', 'LAST RUN']];
    for (const s of list) {
      const next = s.next === undefined ? '-' : `${new Date(s.next).toISOString()} (${until(s.next)})`;
      const last = s.last ? `${s.last.outcome} ${ago(s.last.finishedAt)} ago (${s.last.jobId})` : '-';
      rows.push([s.name, s.task, `${s.queue} (${s.pool || 'no pool'})`, s.when, s.state, next, String(s.iterations ?? '-'), last]);
    }
    process.stdout.write(table(rows));
    if (list.some((s) => s.state === 'pending')) process.stdout.write('pending: not in Redis yet; trireme serve\'s leader puts them there when it starts (is it running?)\n');
  }, { start: false });
}
