/** `trireme jobs`, `job ID [--follow]`, `cancel ID`, `retry ID`: thin clients of queue/jobs.ts, as the API is. */
import type { Command } from 'commander';
import { TriremeClient } from '../queue/client.js';
import { cancelJob, followJob, JOB_STATES, JobError, jobNotFound, listJobs, retryJob, type JobStateFilter } from '../queue/jobs.js';
import { action, ago, project, redisFor, table, UsageError, type GlobalOpts } from './common.js';
import type { Project } from '../project.js';

async function withClient<T>(cmd: Command, fn: (c: TriremeClient, p: Project) => Promise<T>): Promise<T> {
  const p = await project(cmd.optsWithGlobals() as GlobalOpts);
  const { url } = await redisFor(p, { quiet: true });
  const client = new TriremeClient(p, url);
  try {
    return await fn(client, p);
  } catch (err) {
    if (err instanceof JobError && err.code !== 'not_found') throw new UsageError(err.message);
    throw err;
  } finally {
    await client.close();
  }
}

const secs = (ms?: number) => (ms === undefined ? '-' : ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms / 1000)}s`);

export function registerJobs(program: Command): void {
  program.command('jobs')
    .description('list jobs, newest first')
    .option('-s, --state <states>', `comma-separated: ${JOB_STATES.join(', ')}`)
    .option('-q, --queue <queue>', 'only this queue')
    .option('-p, --pool <pool>', 'only the queues of this pool')
    .option('-t, --task <task>', 'only this task')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--cursor <cursor>', 'the next page, as printed after the last one')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { state?: string; queue?: string; pool?: string; task?: string; limit: string; cursor?: string; json?: boolean }, cmd: Command) => withClient(cmd, async (client) => {
      const state = o.state?.split(',').filter(Boolean) as JobStateFilter[] | undefined;
      const bad = state?.find((s) => !(JOB_STATES as readonly string[]).includes(s));
      if (bad) throw new UsageError(`--state: unknown state "${bad}"; use ${JOB_STATES.join(', ')}`);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError(`--limit takes a whole number from 1 to 500, got "${o.limit}"`);
      const page = await listJobs(client, { state, queue: o.queue, pool: o.pool, task: o.task, limit, cursor: o.cursor });
      if (o.json) { process.stdout.write(`${JSON.stringify(page, null, 2)}\n`); return; }
      const rows = [['ID', 'TASK', 'STATE', 'POOL', 'ATTEMPTS', 'SUBMITTED', 'WAITED', 'RAN']];
      for (const j of page.jobs) {
        rows.push([j.id, j.task, j.state, j.pool ?? '-', `${j.attempts}/${j.maxAttempts}`, `${ago(j.submittedAt)} ago`,
          secs(j.startedAt ? j.startedAt - j.submittedAt : undefined), secs(j.startedAt && j.finishedAt ? j.finishedAt - j.startedAt : undefined)]);
      }
      process.stdout.write(page.jobs.length ? table(rows) : 'no jobs match\n');
      if (page.cursor) process.stdout.write(`more: trireme jobs --cursor ${page.cursor}${o.state ? ` --state ${o.state}` : ''}\n`);
    })));

  program.command('job')
    .description('one job: state, attempts, timings, result or error, and its log; --follow streams until it ends')
    .argument('<id>')
    .option('-f, --follow', 'stream log lines and state changes until the job ends; exit 1 if it failed')
    .option('--json', 'print machine-readable JSON (with --follow: one event per line)')
    .action(action(async (id: string, o: { follow?: boolean; json?: boolean }, cmd: Command) => withClient(cmd, async (client) => {
      const job = await client.getJob(id);
      if (!job) throw jobNotFound(id);
      if (!o.follow) {
        const { logs } = await client.queue(job.queue).getJobLogs(id, 0, -1, true);
        if (o.json) { process.stdout.write(`${JSON.stringify({ ...job, logs }, null, 2)}\n`); return; }
        const lines = [
          `${job.id}  ${job.task} -> ${job.queue} (pool ${job.pool ?? '-'})`,
          `state      ${job.state}${job.progress ? `  progress ${JSON.stringify(job.progress)}` : ''}`,
          `attempts   ${job.attempts}/${job.maxAttempts}`,
          `submitted  ${new Date(job.submittedAt).toISOString()}`,
          `started    ${job.startedAt ? `${new Date(job.startedAt).toISOString()}  (waited ${secs(job.startedAt - job.submittedAt)})` : '-'}`,
          `finished   ${job.finishedAt ? `${new Date(job.finishedAt).toISOString()}  (ran ${secs(job.startedAt ? job.finishedAt - job.startedAt : undefined)})` : '-'}`,
          `payload    ${JSON.stringify(job.payload)}`,
          ...(job.result !== undefined ? [`result     ${JSON.stringify(job.result)}`] : []),
          ...(job.error ? [`error      ${job.error}`] : []),
          ...(logs.length ? ['log:', ...logs.map((l) => `  ${l}`)] : []),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return;
      }
      const ctl = new AbortController();
      process.once('SIGINT', () => ctl.abort());
      for await (const e of followJob(client, id, { signal: ctl.signal })) {
        if (o.json) { process.stdout.write(`${JSON.stringify(e)}\n`); }
        else if (e.type === 'log') process.stdout.write(`${e.line}\n`);
        else if (e.type === 'state') process.stderr.write(`-- ${e.state}\n`);
        else if (e.type === 'end') process.stderr.write(`-- ${e.state}${e.error ? `: ${e.error}` : e.result !== undefined ? `: ${JSON.stringify(e.result)}` : ''}\n`);
        if (e.type === 'end' && e.state !== 'completed') process.exitCode = 1;
      }
    })));

  program.command('cancel')
    .description('cancel a job: a waiting one is removed, a running one is aborted and fails as "cancelled"')
    .argument('<id>')
    .action(action(async (id: string, _o: unknown, cmd: Command) => withClient(cmd, async (client) => {
      const r = await cancelJob(client, id);
      process.stdout.write(`${id}: was ${r.was}, now ${r.state}\n`);
      if (r.state === 'active') process.exitCode = 1;
    })));

  program.command('retry')
    .description('run a failed or completed job again')
    .argument('<id>')
    .action(action(async (id: string, _o: unknown, cmd: Command) => withClient(cmd, async (client) => {
      const r = await retryJob(client, id);
      process.stdout.write(`${id}: ${r.state}\n`);
    })));
}
