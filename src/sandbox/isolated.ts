/**
 * Process and thread isolation: each job runs in a child process or a worker thread, so a crash, a leak or a stuck
 * loop stays there, and a time limit stops it for real (SIGKILL, terminate()). Runners are kept warm between jobs
 * (runner-pool.ts). TypeScript tasks only: pool-executor.ts sends command and warm runners' tasks elsewhere.
 */
import type { Executor, TaskRun } from './executor.js';
import { RunnerPool, type RunnerPoolOptions } from './runner-pool.js';

export class IsolatedExecutor implements Executor {
  private readonly runners: RunnerPool;

  constructor(opts: RunnerPoolOptions) {
    this.runners = new RunnerPool(opts);
  }

  /** Starts a runner before the first job arrives. */
  warm(): void { this.runners.warm(); }

  run(run: TaskRun): Promise<unknown> {
    return this.runners.run(run);
  }

  close(): Promise<void> { return this.runners.close(); }
}
