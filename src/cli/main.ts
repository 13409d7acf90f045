/**
 * The trireme command line. One short file per verb group registers its options here; the code behind a verb is
 * imported only when that verb runs, so `trireme --help` loads commander and this file's few neighbours, and a
 * replica loads what a replica needs.
 */
import { Command, CommanderError, Option } from 'commander';
import { version } from '../system/paths.js';
import { registerWorker } from './worker.js';
import { registerSubmit } from './submit.js';
import { registerServe } from './serve.js';
import { registerScale } from './scale.js';
import { registerJobs } from './jobs.js';
import { registerWorkers } from './workers.js';
import { registerSimulate } from './simulate.js';
import { registerExport } from './export.js';
import { registerTune } from './tune.js';
import { registerSchedules } from './schedules.js';

export function program(): Command {
  const p = new Command('trireme')
    .description('Background jobs on tiered, autoscaled worker pools (BullMQ on Redis)')
    .version(version(), '-V, --version', 'print the version')
    .option('-c, --config <path>', 'config file', process.env.TRIREME_CONFIG ?? './trireme.yml')
    .addOption(new Option('--log-format <format>', 'logs as lines for people or JSON (default: pretty on a terminal, else json)').choices(['pretty', 'json']))
    .option('--debug', 'print stack traces with errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  // Children (replicas, standbys) inherit the choice through the environment.
  p.hook('preAction', (cmd) => {
    const format = cmd.opts().logFormat as string | undefined;
    if (format) process.env.TRIREME_LOG_FORMAT = format;
  });
  for (const register of [registerServe, registerWorker, registerSubmit, registerScale, registerJobs, registerWorkers, registerSchedules, registerSimulate, registerTune, registerExport]) register(p);
  return p;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
}
