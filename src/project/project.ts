/**
 * A loaded project: the validated config, its router, and every task it declares (TypeScript tasks from the modules
 * under `tasks:`, command tasks from `commands:` and warm runners' tasks from `runners:`), with the file each came
 * from so isolated runners can load it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { redisUrlProblem } from '../core/redis-url.js';
import { Router } from '../core/routing.js';
import { isTaskDefinition, type TaskDefinition } from '../core/task.js';
import { importTaskModule } from './loader.js';

export type { Project, TaskEntry } from '../core/project.js';
import { taskSettings, type Project, type TaskEntry } from '../core/project.js';

export interface LoadOptions {
  /**
   * Import the task modules (default). False: routes, pools and command tasks only, no task code runs. 'available':
   * import them where their code is on this host; where a module, or a package it imports, is not found, the project
   * is routes-only as with false (a controller host submits by task name without the task code), and `tasksMissing`
   * says what was not found. Any other failure of a module is still an error.
   */
  tasks?: boolean | 'available';
  /** Called with the validated config before any task module is imported (a replica sets its pool's env there). */
  beforeTasks?: (config: Config) => void;
}

/**
 * What `serve` hands the replicas and standbys it starts (TRIREME_CONFIG_SNAPSHOT names the file): the config as it
 * validated it. A replica then runs exactly the config its controller decides with, even if the file changed on
 * disk since, and skips parsing YAML and validating again at every start.
 */
interface Snapshot { configPath: string; config: Config }

/**
 * Writes the snapshot of a loaded project for the processes this one starts; returns the variable to set. API tokens
 * and webhooks (their URLs and secrets) stay out of it: replicas serve no API and send no notice, and secrets do not
 * belong in files.
 */
export async function writeSnapshot(project: Project, file: string): Promise<Record<string, string>> {
  const config = { ...project.config, auth: { ...project.config.auth, tokens: [] }, notify: { ...project.config.notify, webhooks: [] } };
  await writeFile(file, JSON.stringify({ configPath: project.configPath, config } satisfies Partial<Snapshot>), { mode: 0o600 });
  return { TRIREME_CONFIG_SNAPSHOT: file };
}

/** Reads, validates and loads a config file; environment overrides (TRIREME_REDIS_URL) are applied. */
export async function loadProject(configPath: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Promise<Project> {
  const path = resolve(configPath);
  const snapshot = env.TRIREME_CONFIG_SNAPSHOT ? await readSnapshot(env.TRIREME_CONFIG_SNAPSHOT) : undefined;
  if (snapshot?.configPath === path) return assemble(snapshot.config, { baseDir: dirname(path), configPath: path, env, ...opts });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pass -c PATH or create trireme.yml`], path);
  }
  let raw: unknown;
  try {
    const { parse } = await import('yaml');
    raw = parse(text);
  } catch (e) {
    throw new ConfigError([`YAML syntax: ${(e as Error).message.split('\n')[0]}`], path);
  }
  return buildProject(raw, { baseDir: dirname(path), configPath: path, env, ...opts });
}

async function readSnapshot(file: string): Promise<Snapshot | undefined> {
  try { return JSON.parse(await readFile(file, 'utf8')) as Snapshot; } catch { return undefined; }
}

type BuildOptions = { baseDir: string; configPath?: string; env?: NodeJS.ProcessEnv } & LoadOptions;

/** Builds a project from an already parsed config object (tests and embedding). */
export async function buildProject(raw: unknown, opts: BuildOptions): Promise<Project> {
  // The schema library loads only when a config is validated: a replica started from a snapshot never needs it.
  const [{ parseConfig }, { driverSchemas }] = await Promise.all([import('../core/config.js'), import('../drivers/index.js')]);
  return assemble(parseConfig(raw, opts.configPath ?? 'config', { drivers: driverSchemas() }), opts);
}

/** A project from a validated config: environment overrides, the router, the tasks. */
async function assemble(config: Config, opts: BuildOptions): Promise<Project> {
  const redisUrl = opts.env?.TRIREME_REDIS_URL;
  if (redisUrl) {
    const problem = redisUrlProblem(redisUrl);
    if (problem) throw new ConfigError([problem], 'TRIREME_REDIS_URL');
    // The URL only: what the config says an acknowledged submit promises (waitForReplicas) and where queues live holds.
    config.redis = { ...config.redis, url: redisUrl };
  }
  // Secrets belong in the environment rather than in a file that gets committed.
  for (const [variable, readOnly] of [['TRIREME_API_TOKEN', false], ['TRIREME_API_READ_TOKEN', true]] as const) {
    const token = opts.env?.[variable];
    if (!token) continue;
    if (!/^\S{16,}$/.test(token)) throw new ConfigError([`${variable}: use a token of at least 16 characters with no spaces (e.g. openssl rand -hex 24)`], variable);
    config.auth.tokens.push({ token, readOnly, name: variable });
  }
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  const tasks = new Map<string, TaskEntry>();
  const problems: string[] = [];
  const wanted = opts.tasks !== false;
  let missing: string | undefined;
  if (wanted) opts.beforeTasks?.(config);
  for (const [i, spec] of wanted ? config.tasks.entries() : []) {
    const module = resolve(opts.baseDir, spec);
    let exports: Record<string, unknown>;
    try {
      exports = await importTaskModule(module);
    } catch (e) {
      const why = `${module}: ${(e as Error).message.split('\n')[0]}`;
      if (opts.tasks === 'available' && NOT_FOUND.has((e as NodeJS.ErrnoException).code ?? '')) { missing ??= why; continue; }
      problems.push(`tasks.${i}: cannot load ${why}`);
      continue;
    }
    const found = collectTasks(exports);
    if (found.length === 0) problems.push(`tasks.${i}: ${module} exports no task; export the result of defineTask(...)`);
    for (const definition of found) {
      if (tasks.has(definition.name)) problems.push(`tasks.${i}: task "${definition.name}" is defined twice`);
      tasks.set(definition.name, { kind: 'function', name: definition.name, definition, module });
    }
  }
  for (const [name, command] of Object.entries(config.commands)) {
    if (tasks.has(name)) problems.push(`commands.${name}: a TypeScript task has this name too`);
    tasks.set(name, { kind: 'command', name, command, baseDir: opts.baseDir });
  }
  for (const [runner, rc] of Object.entries(config.runners)) {
    rc.tasks.forEach((task, i) => {
      // Names shared with a command are reported by the schema; one shared with a TypeScript task shows only here.
      if (tasks.get(task.name)?.kind === 'function') problems.push(`runners.${runner}.tasks.${i}: a TypeScript task is named "${task.name}" too`);
      tasks.set(task.name, { kind: 'runner', name: task.name, runner, config: rc, task, baseDir: opts.baseDir });
    });
  }
  for (const entry of tasks.values()) {
    const queue = taskSettings(entry).queue;
    if (queue && !router.poolFor(queue)) problems.push(`task "${entry.name}": queue "${queue}" is served by no pool`);
  }
  if (problems.length) throw new ConfigError(problems, opts.configPath ?? 'config');
  return { config, router, tasks, baseDir: opts.baseDir, configPath: opts.configPath, tasksLoaded: wanted && !missing, ...(missing ? { tasksMissing: missing } : {}) };
}

/** What require() and import() throw for a module (a file or a package) that is not there. */
const NOT_FOUND = new Set(['MODULE_NOT_FOUND', 'ERR_MODULE_NOT_FOUND']);

function collectTasks(exports: Record<string, unknown>): TaskDefinition[] {
  const out: TaskDefinition[] = [];
  for (const value of Object.values(exports)) {
    if (isTaskDefinition(value)) out.push(value);
    else if (Array.isArray(value)) out.push(...value.filter(isTaskDefinition));
  }
  return [...new Set(out)];
}
