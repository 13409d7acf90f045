/** The body of `trireme tune`: read what each pool ran, replay it against the pool's settings, recommend. */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { RanJob } from '../../core/records.js';
import { formatDuration, parseDuration } from '../../core/units.js';
import { readTrace, type TraceJob } from '../../sim/trace.js';
import { parseGoal, replayBoth, traceOf, tunePool, type TuneGoal } from '../../sim/tune.js';
import { formatTune, tunePage, type TunedPool } from '../../sim/report.js';
import { htmlPage } from '../../sim/html.js';
import type { Project } from '../../project/project.js';
import { globals, project, redisFor, UsageError } from '../common.js';
import type { TuneCli } from '../tune.js';

/** Where each pool's jobs came from, and the jobs. */
interface Source { describe: string; jobs(pool: string): Promise<TraceJob[]>; close(): Promise<void> }

async function sourceOf(p: Project, o: TuneCli, since: number, now: number): Promise<Source> {
  const span = formatDuration(now - since);
  if (o.trace) {
    let trace: TraceJob[];
    try { trace = await readTrace(o.trace); } catch (e) { throw new UsageError(`--trace: ${(e as Error).message}`); }
    // Each job keeps the queue it routes to, so that it replays on its pool alone.
    const routed = trace.map((j) => ({ ...j, queue: p.router.queueFor(j.task, j.queue) }));
    return { describe: `the trace ${o.trace}`, jobs: async (pool) => routed.filter((j) => p.router.poolFor(j.queue!) === pool), close: async () => {} };
  }
  const fromRan = (ran: RanJob[]) => traceOf(ran);
  const history = p.config.history?.postgres;
  if (history) {
    const { HistoryReader } = await import('../../history/reader.js');
    const reader = new HistoryReader(history, p);
    return {
      describe: `job history in PostgreSQL (the last ${span})`,
      jobs: async (pool) => fromRan(await reader.ran(pool, since, now).catch((e: Error) => { throw new Error(`history: cannot read PostgreSQL: ${e.message}`); })),
      close: () => reader.close(),
    };
  }
  const { connect } = await import('../../redis/connection.js');
  const { recentJobs } = await import('../../jobs/recent.js');
  const { url } = await redisFor(p, { start: false });
  const redis = connect(url, 'trireme-tune');
  let describe = `the jobs Redis still holds (the last ${span}; Redis keeps finished jobs for a day, 10 000 per queue)`;
  return {
    get describe() { return describe; },
    jobs: async (pool) => {
      const r = await recentJobs(redis, p.config.prefix, p.config.pools[pool].queues, since, now);
      if (r.keptSince !== undefined && r.keptSince > since) describe = `the jobs Redis still holds (it holds finished jobs since ${new Date(r.keptSince).toISOString()}; history.postgres keeps them longer)`;
      return fromRan(r.jobs);
    },
    close: async () => { redis.disconnect(); },
  };
}

function csv(trace: TraceJob[]): string {
  return `t_seconds,task,service_seconds,priority,delay_seconds,queue\n${trace.map((j) => `${j.t.toFixed(3)},${j.task},${j.service.toFixed(3)},${j.priority ?? ''},${j.delay ?? ''},${j.queue ?? ''}`).join('\n')}\n`;
}

export async function tune(cmd: Command, o: TuneCli): Promise<void> {
  const p = await project(globals(cmd), { tasks: false });
  const pools = o.pool ?? Object.keys(p.config.pools);
  for (const pool of pools) if (!Object.hasOwn(p.config.pools, pool)) throw new UsageError(`--pool: no pool "${pool}"; pools: ${Object.keys(p.config.pools).join(', ')}`);
  if (o.grid !== 'full' && o.grid !== 'quick') throw new UsageError(`--grid: use full or quick, got "${o.grid}"`);
  if (o.out && !/\.(html|json)$/.test(o.out)) throw new UsageError(`--out: write .html (curves, replay and tables) or .json, got "${o.out}"`);
  let sinceMs: number;
  try { sinceMs = parseDuration(o.since); } catch (e) { throw new UsageError(`--since: ${(e as Error).message}`); }
  let goal: TuneGoal;
  try { goal = parseGoal(o.goal, o.budget); } catch (e) { throw new UsageError(`--goal/--budget: ${(e as Error).message}`); }
  const now = Date.now();
  const source = await sourceOf(p, o, now - sinceMs, now);
  const tuned: TunedPool[] = [];
  const skipped: Record<string, string> = {};
  const replayed: TraceJob[] = [];
  try {
    for (const pool of pools) {
      const trace = await source.jobs(pool);
      if (trace.length === 0) { skipped[pool] = `no jobs ran in ${source.describe}: nothing to replay`; continue; }
      replayed.push(...trace);
      process.stderr.write(`trireme: tune ${pool}: replaying ${trace.length} jobs from ${source.describe}...\n`);
      const t = tunePool(p.config, pool, trace, goal, { grid: o.grid });
      const span = trace[trace.length - 1].t - trace[0].t;
      tuned.push({ pool, source: source.describe, tune: t, replay: o.out ? replayBoth(p.config, pool, trace, t.recommended.setting, Math.max(1_000, (span * 1000) / 1500)) : [] });
    }
  } finally {
    await source.close();
  }
  const goalText = goal.text;
  const json = { goal: goalText, since: o.trace ? undefined : o.since, pools: Object.fromEntries(tuned.map((x) => [x.pool, { jobs: x.tune.jobs, source: x.source, runs: x.tune.runs, current: x.tune.current, curves: x.tune.curves, recommended: x.tune.recommended }])), skipped };
  if (o.traceOut) {
    await writeFile(o.traceOut, csv(replayed.sort((a, b) => a.t - b.t)));
    process.stderr.write(`trireme: wrote what was replayed to ${resolve(o.traceOut)}\n`);
  }
  if (o.out) {
    // JSON: the report and its page (the charts and tables the dashboard draws).
    await writeFile(o.out, o.out.endsWith('.html') ? htmlPage(tunePage(tuned, goalText)) : `${JSON.stringify({ ...json, page: tunePage(tuned, goalText) })}\n`);
    process.stderr.write(`trireme: wrote the report to ${resolve(o.out)}\n`);
  }
  if (o.json) { process.stdout.write(`${JSON.stringify(json, null, 2)}\n`); return; }
  process.stdout.write(`${formatTune(tuned, goalText)}\n`);
  for (const [pool, why] of Object.entries(skipped)) process.stdout.write(`\npool ${pool}: ${why}\n`);
}
