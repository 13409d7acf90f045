/** The body of `trireme submit`. */
import { TriremeClient, type Submitted } from '../../jobs/client.js';
import { Inspector } from '../../control/inspect.js';
import { queueOfJobId } from '../../jobs/ids.js';
import { parseDuration } from '../../core/units.js';
import { intOpt, parseJson, project, redisFor, UsageError, type GlobalOpts } from '../common.js';
import type { SubmitCli } from '../submit.js';
import type { Project } from '../../project/project.js';

/** The lines of an NDJSON file (or stdin for "-"), parsed; a bad line is refused by its number. */
async function readJobs(file: string, task: string | undefined): Promise<unknown[]> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = file === '-' ? await new Promise<string>((resolve, reject) => {
      let buf = '';
      process.stdin.setEncoding('utf8').on('data', (d) => { buf += d; }).on('end', () => resolve(buf)).on('error', reject);
    }) : await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const jobs: unknown[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let v: unknown;
    try { v = JSON.parse(line); } catch (e) { throw new UsageError(`--file ${file}, line ${i + 1}: not JSON (${(e as Error).message})`); }
    if (task === undefined && (typeof v !== 'object' || v === null || typeof (v as { task?: unknown }).task !== 'string')) {
      throw new UsageError(`--file ${file}, line ${i + 1}: name the task ({"task": "...", "payload": {...}}), or give TASK before --file`);
    }
    jobs.push(v);
  }
  if (!jobs.length) throw new UsageError(`--file ${file}: no jobs in it`);
  return jobs;
}

export async function runSubmit(g: GlobalOpts, task: string | undefined, o: SubmitCli): Promise<void> {
  if (!o.file && !task) throw new UsageError('name the task to submit (trireme submit TASK), or give --file jobs.ndjson');
  if (o.file && (o.group || o.wait)) throw new UsageError('--file submits many jobs; it does not combine with --group or --wait');
  // The task code checks payloads where it is here; a host without it (the controller's) submits by name, routes-only,
  // as a client that does not import it does: replicas check the name when they run the job.
  const p = await project(g, { tasks: o.tasks === false ? false : 'available' });
  if (p.tasksMissing) process.stderr.write(`trireme: the task code is not on this host (${p.tasksMissing}); submitting by task name with the config's routes (--no-tasks skips looking for it)\n`);
  const opts = {
    queue: o.queue, delay: o.delay, idempotencyKey: o.key,
    priority: o.priority !== undefined ? intOpt(o.priority, '--priority') : undefined,
    retries: o.retries !== undefined ? intOpt(o.retries, '--retries') : undefined,
  };
  if (o.file) {
    if (o.key) throw new UsageError('--key names one job; with --file give each line its own options.idempotencyKey');
    const jobs = await readJobs(o.file, task);
    const { url, embedded, release } = await redisFor(p);
    const client = new TriremeClient(p, url);
    try {
      // With TASK every line is a payload of it; without, every line is { task, payload?, options? }.
      const submitted = await client.submitMany(task, jobs, opts);
      process.stdout.write(o.json ? `${JSON.stringify(submitted)}\n` : `${submitted.length} jobs submitted (${[...new Set(submitted.map((s) => s.queue))].join(', ')})\n`);
      if (embedded?.started) noServe(p);
      await warnPaused(p, client, submitted.map((s) => s.pool));
    } finally {
      await client.close();
      await release?.();
    }
    return;
  }
  task = task!;
  const { url, embedded, release } = await redisFor(p);
  const client = new TriremeClient(p, url);
  try {
    let submitted: Submitted & { children?: string[] };
    if (o.group) {
      const payloads = parseJson(o.group, '--group');
      if (!Array.isArray(payloads)) throw new UsageError('--group takes a JSON array of payloads, e.g. \'[{"n":1},{"n":2}]\'');
      submitted = await client.submitGroup(task, payloads, opts);
    } else {
      submitted = await client.submit(task, parseJson(o.data, '--data'), opts);
    }
    if (embedded?.started) noServe(p);
    await warnPaused(p, client, [submitted.pool]);
    if (!o.wait) {
      process.stdout.write(o.json ? `${JSON.stringify(submitted)}\n` : `${submitted.id}  (${task} -> queue ${submitted.queue}, pool ${submitted.pool})\n`);
      return;
    }
    const timeout = o.timeout && o.timeout !== '0' ? parseDuration(o.timeout) : undefined;
    const bar = o.group && process.stderr.isTTY && !o.json ? progressBar(client, submitted.id, (submitted.children?.length ?? 1)) : undefined;
    try {
      const result = await client.waitFor(submitted.id, timeout);
      await bar?.stop();
      process.stdout.write(o.json ? `${JSON.stringify({ ...submitted, state: 'completed', result })}\n` : `${submitted.id} completed: ${JSON.stringify(result)}\n`);
    } catch (err) {
      await bar?.stop();
      // The wait ran out, or the job failed: its state tells which. Running out of time is not the job failing.
      const state = (await client.getJob(submitted.id).catch(() => undefined))?.state;
      if (state !== undefined && state !== 'failed' && state !== 'completed') {
        const where = state === 'active' ? 'still running' : `still queued (${state})`;
        process.stdout.write(o.json ? `${JSON.stringify({ ...submitted, state, timedOut: true })}\n`
          : `${submitted.id} timed out waiting after ${o.timeout}: the job is ${where}, not failed; follow it with trireme job ${submitted.id} --follow\n`);
        process.exitCode = WAIT_TIMED_OUT;
      } else {
        process.stdout.write(o.json ? `${JSON.stringify({ ...submitted, state: 'failed', error: (err as Error).message })}\n` : `${submitted.id} failed: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    }
  } finally {
    await client.close();
    await release?.();
  }
}

/** The exit code of `submit --wait --timeout` when the wait ran out and the job is still queued or running (1: it failed). */
export const WAIT_TIMED_OUT = 124;

/** A pool the jobs went to is paused: they were accepted, but it will not grow for them (Inspector.submitWarning). */
async function warnPaused(p: Project, client: TriremeClient, pools: string[]): Promise<void> {
  const warning = await new Inspector(p, client.redis).submitWarning(pools).catch(() => undefined);
  if (warning) process.stderr.write(`trireme: warning: ${warning}\n`);
}

/** This command had to start the private Redis: so no serve runs for this config, and nothing will run the job yet. */
function noServe(p: Project): void {
  process.stderr.write(`trireme: warning: no trireme serve is running for ${p.configPath ?? 'this config'}: nothing runs the job until one starts (trireme serve)\n`);
}

/** A one-line bar on stderr of a group's finished runs, redrawn every half second until stopped. */
function progressBar(client: TriremeClient, parentId: string, total: number): { stop(): Promise<void> } {
  let done = 0;
  const draw = () => {
    const width = 30;
    const filled = Math.round((width * done) / total);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} runs finished`);
  };
  const update = async () => {
    const job = await client.queue(queueOfJobId(parentId)!).getJob(parentId);
    const c = await job?.getDependenciesCount({ processed: true, failed: true });
    if (c) done = Math.min(total, (c.processed ?? 0) + (c.failed ?? 0));
    draw();
  };
  draw();
  const timer = setInterval(() => void update().catch(() => {}), 500);
  return {
    async stop() {
      clearInterval(timer);
      await update().catch(() => {});
      process.stderr.write('\n');
    },
  };
}
