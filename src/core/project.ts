/**
 * A loaded project as every part sees it: the validated config, its router, and every task it declares (TypeScript
 * tasks from the modules under `tasks:` with the file each came from, so isolated runners can load it, and command
 * tasks from `commands:`). Types only: project/project.ts loads one.
 */
import type { CommandTaskConfig, Config, RunnerConfig, RunnerTaskConfig } from './config.js';
import type { Router } from './routing.js';
import type { TaskDefinition, TaskOptions } from './task.js';

export type TaskEntry =
  | { kind: 'function'; name: string; definition: TaskDefinition; module: string }
  | { kind: 'command'; name: string; command: CommandTaskConfig; baseDir: string }
  /** A task of a warm runner (`runners:`): `runner` names it, `config` is its entry, `task` this task's own settings. */
  | { kind: 'runner'; name: string; runner: string; config: RunnerConfig; task: RunnerTaskConfig; baseDir: string };

/**
 * What every kind of task carries beside its code: the queue it overrides routing with, retries, backoff, priority
 * and its own time limit (the submitter, the manifest and the replica read them here, whatever the kind).
 */
export function taskSettings(entry: TaskEntry): TaskOptions {
  switch (entry.kind) {
    case 'function': return entry.definition.options;
    case 'command': return { retries: entry.command.retries, queue: entry.command.queue, timeLimit: entry.command.timeLimit };
    case 'runner': return {
      retries: entry.task.retries ?? entry.config.retries,
      queue: entry.task.queue ?? entry.config.queue,
      timeLimit: minDefined(entry.task.timeLimit, entry.config.timeLimit),
    };
  }
}

function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
}

export interface Project {
  config: Config;
  router: Router;
  tasks: Map<string, TaskEntry>;
  /** Folder of the config file; relative paths in it are taken from here. */
  baseDir: string;
  configPath?: string;
  /** False for a routes-only project (a client that submits without the task code): only command tasks are known. */
  tasksLoaded: boolean;
  /** Loaded with `tasks: 'available'` where a task module is not on this host: the first one missing, and why. */
  tasksMissing?: string;
}
