/**
 * Creating a client from the config's routes and a Redis URL, without loading any task code: what a web app or a
 * script needs to submit work. The client itself (and BullMQ) loads only when one is created, so importing
 * `trireme` in a task module stays cheap.
 */
import { dirname, join, resolve } from 'node:path';
import type { ConfigInput } from '../core/config.js';
import type { TriremeClient } from './client.js';
import { RedisNotFoundError } from '../redis/errors.js';

export interface ClientOptions {
  /** Redis to use; default: TRIREME_REDIS_URL, the config's redis.url, else the private redis-server of `trireme serve`. */
  redisUrl?: string;
  /** The config: a path to trireme.yml (default: TRIREME_CONFIG or ./trireme.yml) or the object itself. Task modules are not loaded. */
  config?: string | ConfigInput;
  /** With an object config: the folder its relative paths are taken from (default: the working directory). */
  baseDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** A client that routes with the config and submits to Redis; `close()` it when done. */
export async function createClient(opts: ClientOptions = {}): Promise<TriremeClient> {
  const env = opts.env ?? process.env;
  const [{ loadProject, buildProject }, { TriremeClient: Client }] = await Promise.all([import('../project/project.js'), import('./client.js')]);
  const config = opts.config ?? env.TRIREME_CONFIG ?? 'trireme.yml';
  const project = typeof config === 'string'
    ? await loadProject(config, env, { tasks: false })
    : await buildProject(config, { baseDir: resolve(opts.baseDir ?? '.'), env, tasks: false });
  const configPath = project.configPath ?? join(project.baseDir, 'trireme.yml');
  const url = opts.redisUrl ?? env.TRIREME_REDIS_URL ?? project.config.redis?.url ?? await findLocalRedis(configPath);
  if (!url) {
    throw new RedisNotFoundError(`no Redis is configured for ${configPath} and no private one of \`trireme serve\` is running beside it: `
      + 'start `trireme serve` there, or pass redisUrl (or set TRIREME_REDIS_URL, or redis.url in the config)');
  }
  return new Client(project, url);
}

/**
 * The URL of the private redis-server that `trireme serve` runs for a config with no Redis configured (its data
 * lives in `.trireme/redis` beside the config file), with the password kept there, or undefined when none is running.
 * Only the account that runs it can read that password.
 */
export async function findLocalRedis(configPath = 'trireme.yml'): Promise<string | undefined> {
  const { findLocalRedis: find } = await import('../redis/embedded.js');
  return find(join(dirname(resolve(configPath)), '.trireme/redis'));
}
