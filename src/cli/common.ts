/**
 * What every verb shares: loading the project, finding Redis, and turning errors into exit codes (2 for usage and
 * config problems, 1 for failures), with no stack trace unless --debug. This module stays light (no Redis client,
 * no schema library at load time): `trireme --help` loads it, and every verb pays for what it uses only when it runs.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Redis } from '../redis/connection.js';
import type { Project } from '../project/project.js';
import type { EmbeddedRedis } from '../redis/embedded.js';
import { processAlive } from '../system/host.js';

export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

export interface GlobalOpts { config: string; debug?: boolean; logFormat?: string }

/**
 * Errors that are the caller's to fix (exit 2): a bad config, bad arguments, a refused submit, no Redis to use, an
 * optional package the config needs but that is not installed, an export that cannot be made as asked.
 */
const USAGE_ERRORS = new Set(['ConfigError', 'UsageError', 'SubmitError', 'RedisNotFoundError', 'MissingPackageError', 'ExportError']);

/**
 * The body of a verb. The command line runs as CommonJS bundles (scripts/build.mjs): this file is part of
 * `main.cjs`, and each verb's body is a bundle of its own beside it, read only when that verb runs.
 */
export function verb<T>(name: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(__dirname, `verb-${name}.cjs`)) as T;
}

export function globals(cmd: Command): GlobalOpts {
  return cmd.optsWithGlobals() as GlobalOpts;
}

/** Loads the config and the task modules (`tasks: false`: routes and pools only, no task code runs). */
export async function project(opts: GlobalOpts, load: import('../project/project.js').LoadOptions = {}): Promise<Project> {
  const { loadProject } = await import('../project/project.js');
  return loadProject(opts.config, process.env, load);
}

/**
 * The Redis to use: the config's or TRIREME_REDIS_URL, else the private redis-server in `.trireme/redis` beside the
 * config file (its URL carries the password kept there, see embedded-redis.ts). `owned`: this process stops it when
 * it exits (serve, last of all); `start: false` (read-only verbs) never starts one and says so instead. A notice is
 * printed only when a server is started, not each time one is reused. `release`, when this one-off command started
 * the server: call it when done, to stop the server unless a serve has taken it over or another process still uses it.
 */
export async function redisFor(p: Project, opts: { owned?: boolean; start?: boolean; probe?: boolean } = {}): Promise<{ url: string; embedded?: EmbeddedRedis; release?: () => Promise<void> }> {
  if (p.config.redis?.url) {
    // Every connection of a verb waits for Redis forever, silently: find out first, and say so within seconds.
    if (opts.probe !== false) {
      const { ensureRedisAnswers } = await import('../redis/connection.js');
      await ensureRedisAnswers(p.config.redis.url, { source: redisSource(p) });
    }
    return { url: p.config.redis.url };
  }
  if (p.config.redis.waitForReplicas > 0) {
    throw new UsageError(`redis.waitForReplicas is ${p.config.redis.waitForReplicas} but no Redis is configured, and the private redis-server has no replicas: `
      + 'set redis.url (or redis.sentinel, redis.cluster, TRIREME_REDIS_URL) to a primary with replicas, or leave waitForReplicas out');
  }
  const { join, relative } = await import('node:path');
  const { findLocalRedis, startEmbeddedRedis, liveOwner } = await import('../redis/embedded.js');
  // Beside the config file, not in the working directory: every command run on one config shares one Redis.
  const dir = join(p.baseDir, '.trireme/redis');
  if (opts.start === false) {
    const url = await findLocalRedis(dir);
    if (!url) throw new UsageError(`no Redis is running for ${p.configPath ?? 'this config'}: nothing to read. Start one with trireme serve, or set TRIREME_REDIS_URL`);
    return { url };
  }
  if (!opts.owned) {
    // A serve owns this folder's Redis and restarts it when it dies: never start a second one beside it.
    const owner = await liveOwner(dir);
    if (owner && !(await findLocalRedis(dir))) {
      throw new Error(`the private Redis of trireme serve (pid ${owner}) is not answering right now (serve restarts it within seconds); try again shortly`);
    }
  }
  // Always in its own process group: a Ctrl-C in the terminal reaches serve and its replicas, which drain, and not
  // the Redis they drain into; an owner (serve) stops it last. One that outlives a crashed owner is reused next time.
  const embedded = await startEmbeddedRedis(dir, { detached: true });
  const shown = relative(process.cwd(), dir) || '.';
  if (embedded.started) {
    const { describeUrl } = await import('../redis/connection.js');
    process.stderr.write(`trireme: no Redis configured; started a private redis-server at ${describeUrl(embedded.url)} (data in ${shown}, AOF on; its password is in ${join(shown, 'password')})\n`);
  }
  // A one-off command stops what it started when done (private-redis.ts); serve owns what it finds or starts.
  const release = embedded.started && !opts.owned ? async () => {
    const { releasePrivateRedis } = await import('../redis/ownership.js');
    if (await releasePrivateRedis(embedded.url, () => embedded.stop(), async () => (await liveOwner(dir)) !== undefined)) {
      process.stderr.write(`trireme: stopped the private redis-server this command started (its data stays in ${shown} for the next trireme serve)\n`);
    }
  } : undefined;
  return { url: embedded.url, embedded, release };
}

/** Where the Redis URL in use was set, for messages that ask to check it. */
export function redisSource(p: Project): string {
  return process.env.TRIREME_REDIS_URL ? 'TRIREME_REDIS_URL' : `redis.url in ${p.configPath ?? 'the config'}`;
}

/** Runs a verb, mapping errors to exit codes and one-line messages. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const debug = process.argv.includes('--debug');
      const e = err as Error;
      process.stderr.write(`trireme: ${e?.message ?? err}\n`);
      if (debug) process.stderr.write(`${e?.stack}\n`);
      process.exit(USAGE_ERRORS.has(e?.name) ? 2 : 1);
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

/**
 * Connects to the project's Redis for one verb and closes the connection after. Read-only verbs pass
 * `start: false`, so that looking never starts a server behind the user's back.
 */
export async function withRedis<T>(cmd: Command, fn: (p: Project, redis: Redis, url: string) => Promise<T>, opts: { start?: boolean; tasks?: boolean } = {}): Promise<T> {
  const { connect } = await import('../redis/connection.js');
  const p = await project(globals(cmd), { tasks: opts.tasks ?? false });
  const { url } = await redisFor(p, { start: opts.start });
  const redis = connect(url, 'trireme-cli');
  try { return await fn(p, redis, url); } finally { redis.disconnect(); }
}

/** A whole number from a CLI option, or a usage error naming the option. */
export function intOpt(v: string, name: string, min = Number.MIN_SAFE_INTEGER): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} takes a whole number${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''}, got "${v}"`);
  return n;
}

/** A number (fractions allowed) from a CLI option, at least `min`, or a usage error naming the option. */
export function numberOpt(v: string, name: string, min = 0): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${name} takes a number >= ${min}, got "${v}"`);
  return n;
}

/**
 * Whether the supervising process `pid` (TRIREME_PARENT_PID) is gone: it is not our parent and no process has its
 * pid. It may be an ancestor rather than the parent (npx, a shell), so a changed parent alone does not say so.
 */
export function parentGone(pid: number): boolean {
  return process.ppid !== pid && !processAlive(pid);
}
