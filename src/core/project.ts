/**
 * A loaded project as every part sees it: the validated config, its router, and every task it declares (TypeScript
 * tasks from the modules under `tasks:` with the file each came from, so isolated runners can load it, and command
 * tasks from `commands:`). Types only: project/project.ts loads one.
 */
import type { CommandTaskConfig, Config } from './config.js';
import type { Router } from './routing.js';
import type { TaskDefinition } from './task.js';

export type TaskEntry =
  | { kind: 'function'; name: string; definition: TaskDefinition; module: string }
  | { kind: 'command'; name: string; command: CommandTaskConfig; baseDir: string };

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
