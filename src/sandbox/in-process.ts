/** Runs a TypeScript task inside the worker process: fastest, but a stuck handler can only be abandoned, not killed. */
import { guarded, type Executor, type TaskRun } from './executor.js';

export class InProcessExecutor implements Executor {
  run(run: TaskRun): Promise<unknown> {
    const { entry } = run;
    if (entry.kind !== 'function') throw new Error('in-process runs TypeScript tasks');
    return guarded(run, async (signal) => entry.definition.handler(run.payload, {
      jobId: run.jobId, task: entry.name, queue: run.queue, attempt: run.attempt, workdir: run.workdir,
      log: run.log, progress: run.progress,
      get signal() { return signal(); },
    }));
  }
}
