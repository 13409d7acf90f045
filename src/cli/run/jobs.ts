/** The bodies of `trireme jobs`, `job`, `cancel` and `retry`. */
import type { Command } from 'commander';
import { TriremeClient, type JobView } from '../../jobs/client.js';
import { cancelJob, followJob, JOB_STATES, JobError, jobNotFound, listJobs, retryJob, type JobStateFilter } from '../../jobs/operations.js';
import { ago, globals, project, redisFor, table, UsageError } from '../common.js';
import type { JobsCli } from '../jobs.js';

/** A client for one verb. Reading a job never starts a Redis server; routes and pools are enough, no task code. */
async function withClient<T>(cmd: Command, fn: (c: TriremeClient) => Promise<T>): Promise<T> {
  const p = await project(globals(cmd), { tasks: false });
  const { url } = await redisFor(p, { start: false });
  const client = new TriremeClient(p, url);
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof JobError && err.code !== 'not_found') throw new UsageError(err.message);
    throw err;
  } finally {
    await client.close();
  }
}

const secs = (ms?: number) => (ms === undefined ? '-' : ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms / 1000)}s`);

/**
 * What is true of a job's attempts. BullMQ counts a start each time a replica takes the job: besides the attempts
 * (finished runs) and the one running, a start is a run lost with its replica (a stall) or the job handed back
 * without running (fetched while every slot was taken, or by a draining replica), which costs no attempt.
 */
export function attemptsLine(view: Pick<JobView, 'state' | 'attempts' | 'maxAttempts' | 'starts' | 'stalls'>): string {
  const running = view.state === 'active' ? 1 : 0;
  const handedBack = Math.max(0, view.starts - view.attempts - view.stalls - running);
  const notes = [
    ...(view.stalls ? [`${view.stalls} run(s) lost with their replica and run again`] : []),
    ...(handedBack ? [`handed back ${handedBack} time(s) without running: the pool was busy or draining`] : []),
  ];
  const head = running ? `attempt    ${view.attempts + 1} of ${view.maxAttempts}, running` : `attempts   ${view.attempts} of ${view.maxAttempts}${view.starts === 0 ? ', not run yet' : ''}`;
  return `${head}${notes.length ? `  (${notes.join('; ')})` : ''}`;
}

export async function jobs(cmd: Command, o: JobsCli): Promise<void> {
  await withClient(cmd, async (client) => {
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
  });
}

export async function job(cmd: Command, id: string, o: { follow?: boolean; json?: boolean; files?: boolean; download?: string }): Promise<void> {
  if (o.files || o.download) { await jobFiles(cmd, id, o); return; }
  await withClient(cmd, async (client) => {
    const view = await client.getJob(id);
    if (!view) throw jobNotFound(id);
    if (!o.follow) {
      const { logs } = await client.queue(view.queue).getJobLogs(id, 0, -1, true);
      if (o.json) { process.stdout.write(`${JSON.stringify({ ...view, logs }, null, 2)}\n`); return; }
      const lines = [
        `${view.id}  ${view.task} -> ${view.queue} (pool ${view.pool ?? '-'})`,
        `state      ${view.state}${view.progress ? `  progress ${JSON.stringify(view.progress)}` : ''}`,
        attemptsLine(view),
        `submitted  ${new Date(view.submittedAt).toISOString()}`,
        `started    ${view.startedAt ? `${new Date(view.startedAt).toISOString()}  (waited ${secs(view.startedAt - view.submittedAt)})` : '-'}`,
        `finished   ${view.finishedAt ? `${new Date(view.finishedAt).toISOString()}  (ran ${secs(view.startedAt ? view.finishedAt - view.startedAt : undefined)})` : '-'}`,
        `payload    ${JSON.stringify(view.payload)}`,
        ...(view.result !== undefined ? [`result     ${JSON.stringify(view.result)}`] : []),
        ...(view.error ? [`error      ${view.error}`] : []),
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
      // A final state is said once, by the end line with its result or error.
      else if (e.type === 'state' && e.state !== 'completed' && e.state !== 'failed') process.stderr.write(`-- ${e.state}\n`);
      else if (e.type === 'end') process.stderr.write(`-- ${e.state}${e.error ? `: ${e.error}` : e.result !== undefined ? `: ${JSON.stringify(e.result)}` : ''}\n`);
      if (e.type === 'end' && e.state !== 'completed') process.exitCode = 1;
    }
  });
}

export async function cancel(cmd: Command, id: string): Promise<void> {
  await withClient(cmd, async (client) => {
    const r = await cancelJob(client, id);
    process.stdout.write(`${id}: was ${r.was}, now ${r.state}\n`);
    if (r.state === 'active') process.exitCode = 1;
  });
}

export async function retry(cmd: Command, id: string): Promise<void> {
  await withClient(cmd, async (client) => {
    const r = await retryJob(client, id);
    process.stdout.write(`${id}: ${r.state}\n`);
  });
}

/**
 * `job ID --files` / `--download DIR`: the job's folder on storage.dir, read from this host's view of it. A download
 * reads each file as the API serves it (storage/job-folders.ts: real folders, regular files, no links), never by its path.
 */
async function jobFiles(cmd: Command, id: string, o: { json?: boolean; download?: string }): Promise<void> {
  const { JobStorage, StorageError } = await import('../../storage/job-folders.js');
  const { mkdir } = await import('node:fs/promises');
  const { createWriteStream } = await import('node:fs');
  const { pipeline } = await import('node:stream/promises');
  const { join } = await import('node:path');
  const p = await project(globals(cmd));
  const st = p.config.storage;
  if (!st) throw new UsageError('job files need storage.dir in the config (docs/storage.md)');
  const storage = new JobStorage(st.dir, p.baseDir);
  const refusal = (e: unknown) => {
    // A folder or file that is refused is a failure to report (exit 1); a name that is not a job id is the caller's (2).
    if (e instanceof StorageError) return e.code === 'not_served' ? new Error(e.message) : new UsageError(e.message);
    return e;
  };
  const files = await storage.list(id).catch((e: unknown) => { throw refusal(e); });
  const dir = storage.dirOf(id);
  if (o.download) {
    for (const kind of ['input', 'output'] as const) {
      await mkdir(join(o.download, kind), { recursive: true });
      for (const f of files[kind]) {
        const { stream } = await storage.open(id, kind, f.name).catch((e: unknown) => { throw refusal(e); });
        await pipeline(stream!, createWriteStream(join(o.download, kind, f.name)));
      }
    }
    process.stdout.write(`copied ${files.input.length} input and ${files.output.length} output file(s) of ${id} to ${o.download}\n`);
    return;
  }
  if (o.json) { process.stdout.write(`${JSON.stringify({ id, dir, ...files }, null, 2)}\n`); return; }
  const rows = [['KIND', 'NAME', 'SIZE', 'PATH']];
  for (const kind of ['input', 'output'] as const) for (const f of files[kind]) rows.push([kind, f.name, String(f.size), join(dir, kind, f.name)]);
  process.stdout.write(rows.length > 1 ? table(rows) : `no files for ${id} under ${dir}\n`);
}
