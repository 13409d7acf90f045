/** `trireme jobs`, `job ID [--follow]`, `cancel ID`, `retry ID`: thin clients of jobs/operations.ts, as the API is. */
import type { Command } from 'commander';
import { JOB_STATES } from '../jobs/operations.js';
import { action, verb } from './common.js';

export interface JobsCli { state?: string; queue?: string; pool?: string; task?: string; limit: string; cursor?: string; json?: boolean }

export function registerJobs(program: Command): void {
  const run = () => verb<typeof import('./run/jobs.js')>('jobs');
  program.command('jobs')
    .description('list jobs, newest first')
    .option('-s, --state <states>', `comma-separated: ${JOB_STATES.join(', ')}`)
    .option('-q, --queue <queue>', 'only this queue')
    .option('-p, --pool <pool>', 'only the queues of this pool')
    .option('-t, --task <task>', 'only this task')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--cursor <cursor>', 'the next page, as printed after the last one')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: JobsCli, cmd: Command) => run().jobs(cmd, o)));

  program.command('job')
    .description('one job: state, attempts, timings, result or error, and its log; --follow streams until it ends')
    .argument('<id>')
    .option('-f, --follow', 'stream log lines and state changes until the job ends; exit 1 if it failed')
    .option('--json', 'print machine-readable JSON (with --follow: one event per line)')
    .option('--files', "list the job's files on storage.dir (input/ and output/) with their sizes and paths")
    .option('--download <dir>', "copy the job's files into <dir>/input and <dir>/output (links are skipped)")
    .action(action(async (id: string, o: { follow?: boolean; json?: boolean; files?: boolean; download?: string }, cmd: Command) => run().job(cmd, id, o)));

  program.command('cancel')
    .description('cancel a job: a waiting one is removed, a running one is aborted and fails as "cancelled"')
    .argument('<id>')
    .action(action(async (id: string, _o: unknown, cmd: Command) => run().cancel(cmd, id)));

  program.command('retry')
    .description('run a failed or completed job again')
    .argument('<id>')
    .action(action(async (id: string, _o: unknown, cmd: Command) => run().retry(cmd, id)));
}
