/** `trireme submit TASK --data JSON`: enqueue a job (or a group of runs), optionally wait for its result. */
import type { Command } from 'commander';
import { TriremeClient, type Submitted } from '../queue/client.js';
import { queueOfJobId } from '../queue/job-id.js';
import { action, parseJson, project, redisFor, UsageError, type GlobalOpts } from './common.js';

interface SubmitCli { data: string; queue?: string; priority?: string; delay?: string; key?: string; retries?: string; group?: string; wait?: boolean; timeout?: string; json?: boolean }

export function registerSubmit(program: Command): void {
  program.command('submit')
    .description('submit a job; routes pick its queue unless --queue is given')
    .argument('<task>', 'task name, e.g. shap.explain')
    .option('-d, --data <json>', 'payload as JSON', '{}')
    .option('-q, --queue <queue>', 'queue to use instead of the routed one')
    .option('--priority <n>', 'BullMQ priority: 1 runs first')
    .option('--delay <duration>', 'run no earlier than this from now, e.g. 30s')
    .option('--key <idempotency-key>', 'jobs with the same key are one job: safe to retry the submit')
    .option('--retries <n>', 'retries after a failure')
    .option('--group <json-array>', 'fan-out: a JSON array of payloads, run as children of one parent job')
    .option('-w, --wait', 'wait until the job finishes and print its result; exit 1 if it failed')
    .option('--timeout <duration>', 'with --wait: give up after this long', '0')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', `
Examples:
  trireme submit api.ping --data '{"ms":10}' --wait
  trireme submit shap.explain --group '[{"ms":1000},{"ms":2000}]' --wait --json`)
    .action(action(async (task: string, o: SubmitCli, cmd: Command) => {
      const p = await project(cmd.optsWithGlobals() as GlobalOpts);
      const { url } = await redisFor(p, { quiet: o.json });
      const client = new TriremeClient(p, url);
      try {
        const opts = {
          queue: o.queue, delay: o.delay, idempotencyKey: o.key,
          priority: o.priority !== undefined ? intOpt(o.priority, '--priority') : undefined,
          retries: o.retries !== undefined ? intOpt(o.retries, '--retries') : undefined,
        };
        let submitted: Submitted & { children?: string[] };
        if (o.group) {
          const payloads = parseJson(o.group, '--group');
          if (!Array.isArray(payloads)) throw new UsageError('--group takes a JSON array of payloads, e.g. \'[{"n":1},{"n":2}]\'');
          submitted = await client.submitGroup(task, payloads, opts);
        } else {
          submitted = await client.submit(task, parseJson(o.data, '--data'), opts);
        }
        if (!o.wait) {
          process.stdout.write(o.json ? `${JSON.stringify(submitted)}\n` : `${submitted.id}  (${task} -> queue ${submitted.queue}, pool ${submitted.pool})\n`);
          return;
        }
        const timeout = o.timeout && o.timeout !== '0' ? (await import('../core/units.js')).parseDuration(o.timeout) : undefined;
        const bar = o.group && process.stderr.isTTY && !o.json ? progressBar(client, submitted.id, (submitted.children?.length ?? 1)) : undefined;
        try {
          const result = await client.waitFor(submitted.id, timeout);
          await bar?.stop();
          process.stdout.write(o.json ? `${JSON.stringify({ ...submitted, state: 'completed', result })}\n` : `${submitted.id} completed: ${JSON.stringify(result)}\n`);
        } catch (err) {
          await bar?.stop();
          process.stdout.write(o.json ? `${JSON.stringify({ ...submitted, state: 'failed', error: (err as Error).message })}\n` : `${submitted.id} failed: ${(err as Error).message}\n`);
          process.exitCode = 1;
        }
      } finally {
        await client.close();
      }
    }));
}

function intOpt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${name} takes a whole number, got "${v}"`);
  return n;
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
