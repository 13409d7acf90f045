/**
 * Where Trireme's own files are. The same code runs from `src/` (tests, through tsx), from `dist/` (the library
 * build) and from `dist/bin/` (the bundled CLI), so paths to shipped assets are found from the package root rather
 * than from a fixed number of `..` steps.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's name on npm (`trireme` there is another project); the command keeps the name `trireme`. */
export const PACKAGE_NAME = 'trireme-jobs';

let root: string | undefined;

/** The folder holding Trireme's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find Trireme's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

interface Manifest { name: string; version: string; peerDependencies?: Record<string, string> }

/** The installed package's package.json. */
export function manifest(): Manifest {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as Manifest;
}

/** The installed package's version. */
export function version(): string {
  return manifest().version;
}

/** The CLI entry every spawned replica and standby runs. */
export function cliPath(): string {
  return join(packageRoot(), 'bin/trireme.cjs');
}

/** The Python runner Trireme ships (runners/python/trireme.py), which `runners: { NAME: { python: ... } }` runs. */
export function pythonRunnerPath(): string {
  return join(packageRoot(), 'runners/python/trireme.py');
}
