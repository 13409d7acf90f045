/**
 * What every verb shares: loading the project, finding Redis, and turning errors into exit codes (2 for usage and
 * config problems, 1 for failures), with no stack trace unless --debug.
 */
import { join, relative } from 'node:path';
import { ConfigError } from '../core/config.js';
import { loadProject, type Project } from '../project.js';
import { RedisNotFoundError, startEmbeddedRedis, type EmbeddedRedis } from '../queue/embedded-redis.js';
import { SubmitError } from '../queue/client.js';
import { describeUrl } from '../queue/connection.js';

export class UsageError extends Error {}

export interface GlobalOpts { config: string; debug?: boolean }

export async function project(opts: GlobalOpts): Promise<Project> {
  return loadProject(opts.config);
}

/**
 * The Redis to use: the config's or TRIREME_REDIS_URL, else the private redis-server in `.trireme/redis` beside the
 * config file (reused when one is running). `owned` starts it as a child that stops with this process; otherwise it is left running.
 */
export async function redisFor(p: Project, opts: { owned?: boolean; quiet?: boolean } = {}): Promise<{ url: string; embedded?: EmbeddedRedis }> {
  if (p.config.redis?.url) return { url: p.config.redis.url };
  // Beside the config file, not in the working directory: every command run on one config shares one Redis.
  const dir = join(p.baseDir, '.trireme/redis');
  const embedded = await startEmbeddedRedis(dir, { detached: !opts.owned });
  if (!opts.quiet) {
    process.stderr.write(embedded.started
      ? `trireme: no Redis configured; started a private redis-server at ${describeUrl(embedded.url)} (data in ${relative(process.cwd(), dir) || '.'}, AOF on)\n`
      : `trireme: no Redis configured; using the private redis-server at ${describeUrl(embedded.url)}\n`);
  }
  return { url: embedded.url, embedded };
}

/** Runs a verb, mapping errors to exit codes and one-line messages. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const debug = process.argv.includes('--debug');
      if (err instanceof ConfigError || err instanceof UsageError || err instanceof SubmitError || err instanceof RedisNotFoundError) {
        process.stderr.write(`trireme: ${err.message}\n`);
        if (debug) process.stderr.write(`${err.stack}\n`);
        process.exit(2);
      }
      process.stderr.write(`trireme: ${(err as Error).message ?? err}\n`);
      if (debug) process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    }
  };
}

export function parseJson(text: string, what: string): unknown {
  try { return JSON.parse(text); } catch (e) { throw new UsageError(`${what} is not valid JSON: ${(e as Error).message}`); }
}
