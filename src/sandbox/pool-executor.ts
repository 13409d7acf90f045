/**
 * How a pool's replica runs each kind of task, one line per kind: TypeScript tasks in the pool's isolation mode
 * (in-process, or warm thread or process runners), command tasks as a fresh process per job, and warm runners'
 * tasks on that runner's processes, whatever the pool's isolation (a runner is its own process by nature). A new kind
 * of task is one more line in `byKind`.
 */
import type { Clock } from '../core/clock.js';
import type { PoolConfig } from '../core/config.js';
import type { Project, TaskEntry } from '../core/project.js';
import type { RunnerStatus, RunnerTally } from '../core/records.js';
import { runnersOfPool } from '../core/runners.js';
import type { Logger } from '../system/log.js';
import { systemClock } from '../system/system-clock.js';
import type { Executor, TaskRun } from './executor.js';
import { runCommand } from './command.js';
import { InProcessExecutor } from './in-process.js';
import { IsolatedExecutor } from './isolated.js';
import { ExternalRunnerPool } from './external-runners.js';
import { runnerSpec } from './runner-spec.js';

export interface PoolExecutorOptions {
  project: Project;
  pool: string;
  logger: Logger;
  clock?: Clock;
}

export class PoolExecutor implements Executor {
  private readonly functions: Executor;
  private readonly external = new Map<string, ExternalRunnerPool>();
  private readonly byKind: { [K in TaskEntry['kind']]: (run: TaskRun & { entry: Extract<TaskEntry, { kind: K }> }) => Promise<unknown> } = {
    function: (run) => this.functions.run(run),
    command: (run) => runCommand(run),
    runner: (run) => this.runnerPool(run.entry.runner).run(run),
  };

  constructor(private readonly opts: PoolExecutorOptions) {
    const pool = this.poolConfig;
    this.functions = pool.isolation === 'in-process' ? new InProcessExecutor() : new IsolatedExecutor({
      kind: pool.isolation,
      size: pool.concurrency,
      // Isolated runners are the "children" that maxTasksPerChild counts, as in Celery; threads share the replica's
      // memory, so maxMemory recycles a thread pool's replica instead.
      maxTasks: pool.maxTasksPerChild,
      maxMemory: pool.isolation === 'process' ? pool.maxMemory : undefined,
      init: { preload: [...new Set([...opts.project.tasks.values()].flatMap((t) => (t.kind === 'function' ? [t.module] : [])))] },
    });
    // The runners routing sends here are kept warm from the start; any other starts on first use (an explicit queue).
    for (const name of runnersOfPool(opts.project.config, opts.pool)) this.runnerPool(name, true);
  }

  private get poolConfig(): PoolConfig { return this.opts.project.config.pools[this.opts.pool]; }

  /** Starts a TypeScript runner (isolated modes) and every warm runner's processes before the first job. */
  warm(): void {
    this.functions.warm?.();
    for (const r of this.external.values()) r.warm();
  }

  /** Resolves once every runner process started by warm() has said ready or failed to start. */
  async ready(): Promise<void> {
    await Promise.all([...this.external.values()].map((r) => r.ready()));
  }

  /**
   * Whether a task's code runs in the replica's own process (TypeScript tasks of an in-process pool): only those
   * count towards the replica's maxTasksPerChild; the others run in processes recycled by their own count.
   */
  runsHere(entry: TaskEntry): boolean {
    return entry.kind === 'function' && this.poolConfig.isolation === 'in-process';
  }

  run(run: TaskRun): Promise<unknown> {
    return (this.byKind[run.entry.kind] as (run: TaskRun) => Promise<unknown>)(run);
  }

  /** Each warm runner this replica keeps, for its heartbeat (empty when it keeps none). */
  runners(): RunnerStatus[] {
    return [...this.external.values()].map((r) => r.status());
  }

  /** Start-ups and exits since the last call, by runner. */
  takeRunnerTallies(): Map<string, RunnerTally> {
    return new Map([...this.external.values()].map((r) => [r.name, r.takeTally()]));
  }

  /** Puts back tallies a heartbeat could not deliver. */
  keepRunnerTallies(tallies: Map<string, RunnerTally>): void {
    for (const [name, t] of tallies) this.external.get(name)?.keepTally(t);
  }

  async close(): Promise<void> {
    await Promise.all([this.functions.close?.(), ...[...this.external.values()].map((r) => r.close())]);
  }

  private runnerPool(name: string, eager = false): ExternalRunnerPool {
    let r = this.external.get(name);
    if (!r) {
      const { project, logger, clock = systemClock } = this.opts;
      const config = project.config.runners[name];
      const pool = this.poolConfig;
      r = new ExternalRunnerPool({
        spec: runnerSpec(name, config, project.baseDir),
        size: pool.concurrency,
        eager,
        // The runner's own limits, else the pool's: the pool's settings are what its "children" live by.
        maxTasks: config.maxTasksPerChild ?? pool.maxTasksPerChild,
        maxMemory: config.maxMemory ?? pool.maxMemory,
        clock,
        logger,
      });
      this.external.set(name, r);
    }
    return r;
  }
}
