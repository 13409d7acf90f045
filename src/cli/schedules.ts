/** `trireme schedules`: the config's job schedules with their next and last runs. */
import type { Command } from 'commander';
import { action, verb } from './common.js';

export function registerSchedules(program: Command): void {
  program.command('schedules')
    .description('job schedules (schedules: in the config): task, queue, when (every or cron with its time zone), next run, last run and how it ended; active once serve\'s leader has put them in Redis')
    .option('--json', 'print machine-readable JSON')
    .action(action(async (o: { json?: boolean }, cmd: Command) => verb<typeof import('./run/schedules.js')>('schedules').schedules(cmd, o)));
}
