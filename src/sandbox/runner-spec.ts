/**
 * A runner's config entry as a program to start: `command` as written, or `python`, the shipped Python runner
 * (runners/python/trireme.py) run by `interpreter` with the task modules, so a team needs no path into the package.
 * Relative paths are taken from the config file's folder, as everywhere in the config.
 */
import { isAbsolute, resolve } from 'node:path';
import type { RunnerConfig } from '../core/config.js';
import { pythonRunnerPath } from '../system/paths.js';
import type { RunnerSpec } from './runner-process.js';

export function runnerSpec(name: string, config: RunnerConfig, baseDir: string): RunnerSpec {
  const cwd = resolve(baseDir, config.cwd ?? '.');
  const base = { name, cwd, env: config.env, startTimeout: config.startTimeout, tasks: config.tasks.map((t) => t.name) };
  if (config.python) {
    // A file (./ml/tasks.py, tasks.py) is found from the config's folder; a dotted name (ml.tasks) on the runner's sys.path.
    const modules = config.python.map((m) => (/[\\/]|\.py$/.test(m) ? (isAbsolute(m) ? m : resolve(baseDir, m)) : m));
    return { ...base, program: config.interpreter ?? 'python3', args: [pythonRunnerPath(), ...modules], source: `runners.${name}.interpreter` };
  }
  const [program, ...args] = config.command!;
  return { ...base, program, args, source: `runners.${name}.command` };
}
