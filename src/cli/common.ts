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

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** "3s", "4m", "2h" ago; "-" for no time. */
export function ago(at: number | undefined, now = Date.now()): string {
  if (!at) return '-';
  const s = Math.max(0, Math.round((now - at) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
}

/** Connects to the project's Redis for one verb and closes the connection after. */
export async function withRedis<T>(cmd: { optsWithGlobals(): unknown }, fn: (p: Project, redis: import('ioredis').Redis, url: string) => Promise<T>, opts: { quiet?: boolean } = { quiet: true }): Promise<T> {
  const { connect } = await import('../queue/connection.js');
  const p = await project(cmd.optsWithGlobals() as GlobalOpts);
  const { url } = await redisFor(p, opts);
  const redis = connect(url, 'trireme-cli');
  try { return await fn(p, redis, url); } finally { redis.disconnect(); }
}
