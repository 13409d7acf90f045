/** The trireme command line: one short file per verb, registered here. */
import { Command, CommanderError } from 'commander';
import { registerWorker } from './worker.js';
import { registerSubmit } from './submit.js';
import { registerServe } from './serve.js';
import { registerScale } from './scale.js';
import { registerSimulate } from './simulate.js';
import { registerJobs } from './jobs.js';
import { registerWorkers } from './workers.js';

const program = new Command('trireme')
  .description('Background jobs on tiered, autoscaled worker pools (BullMQ on Redis)')
  .option('-c, --config <path>', 'config file', process.env.TRIREME_CONFIG ?? './trireme.yml')
  .option('--debug', 'print stack traces with errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerWorker(program);
registerSubmit(program);
registerServe(program);
registerScale(program);
registerJobs(program);
registerWorkers(program);
registerSimulate(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  throw err;
}
