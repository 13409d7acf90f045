/** `trireme submit TASK --data JSON`: enqueue a job (or a group of runs), optionally wait for its result. */
import type { Command } from 'commander';
import { action, globals, verb } from './common.js';

export interface SubmitCli { data: string; queue?: string; priority?: string; delay?: string; key?: string; retries?: string; group?: string; file?: string; wait?: boolean; timeout?: string; json?: boolean; tasks: boolean }

export function registerSubmit(program: Command): void {
  program.command('submit')
    .description('submit a job; routes pick its queue unless --queue is given')
    .argument('[task]', 'task name, e.g. shap.explain (with --file: every line is a payload of it)')
    .option('-d, --data <json>', 'payload as JSON', '{}')
    .option('-q, --queue <queue>', 'queue to use instead of the routed one')
    .option('--priority <n>', 'BullMQ priority: 1 runs first')
    .option('--delay <duration>', 'run no earlier than this from now, e.g. 30s')
    .option('--key <idempotency-key>', 'jobs with the same key are one job: safe to retry the submit')
    .option('--retries <n>', 'retries after a failure')
    .option('--group <json-array>', 'fan-out: a JSON array of payloads, run as children of one parent job')
    .option('-f, --file <ndjson>', 'many jobs, all or nothing: one JSON per line, a payload of TASK, or without TASK {"task", "payload", "options"}; - reads stdin')
    .option('-w, --wait', 'wait until the job finishes and print its result; exit 1 if it failed')
    .option('--timeout <duration>', 'with --wait: stop waiting after this long; exit 124 if the job is still queued or running (it goes on)', '0')
    .option('--json', 'print machine-readable JSON')
    .option('--no-tasks', "submit by task name with the config's routes, without the task code (what happens anyway where it is not on this host, e.g. the controller's)")
    .addHelpText('after', `
Examples:
  trireme submit api.ping --data '{"ms":10}' --wait
  trireme submit shap.explain --group '[{"ms":1000},{"ms":2000}]' --wait --json
  trireme submit --file jobs.ndjson        # {"task":"api.ping","payload":{"ms":10}} per line`)
    .action(action(async (task: string | undefined, o: SubmitCli, cmd: Command) => verb<typeof import('./run/submit.js')>('submit').runSubmit(globals(cmd), task, o)));
}
