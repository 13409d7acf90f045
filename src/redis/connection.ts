/**
 * Redis connections. BullMQ wants `maxRetriesPerRequest: null` on connections that block, and every Trireme
 * connection should reconnect forever with a capped backoff: a Redis restart is an outage to wait out, not a crash.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** The Redis connection type, for code outside the folders that import ioredis (scripts/layers.mjs) that is handed one. */
export type { Redis };
import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { redactRedisUrl, redisUrlProblem } from '../core/redis-url.js';
import { RedisUnreachableError } from './errors.js';

export function redisOptions(url: string): RedisOptions {
  // Checked where URLs come in (config, TRIREME_REDIS_URL); checked again here for URLs handed in by code.
  const problem = redisUrlProblem(url);
  if (problem) throw new Error(problem);
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
  };
}

/**
 * A connection. `failFast`: while Redis is away, commands fail at once instead of waiting in ioredis' offline queue
 * (BullMQ's advice for producers): a server answers "unavailable" rather than hanging, and a write refused now is
 * not carried out later behind the caller's back.
 */
export function connect(url: string, name?: string, opts: { failFast?: boolean } = {}): Redis {
  const redis = new Redis({ ...redisOptions(url), connectionName: name, ...(opts.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : {}) });
  // Errors are reported through the owners' health checks; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  return redis;
}

/** Redacts a password from a URL for logs. */
export function describeUrl(url: string): string {
  return redactRedisUrl(url);
}

/** How long a command waits for Redis to answer before it says that it does not. */
export const REACH_MS = 5_000;

/**
 * Whether Redis answers PING at `url` within `ms`, on a short-lived connection of its own: undefined when it does,
 * else what was seen (the last connection error: refused, a name that does not resolve, a wrong password). Commands
 * call this before anything else, because their own connections wait for Redis forever without a word.
 */
export async function redisProblem(url: string, ms = REACH_MS): Promise<string | undefined> {
  let last: string | undefined;
  const redis = new Redis({
    ...redisOptions(url), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: ms,
    retryStrategy: () => 250, connectionName: 'trireme-probe',
  });
  try {
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      redis.once('ready', () => { clearTimeout(timer); resolve(true); });
      redis.on('error', (e: Error) => {
        // What the offline queue says about a connection still being made is not news; a refused password is final.
        if (!/enableOfflineQueue|Stream isn't writeable/.test(e.message)) last = e.message;
        if (/NOAUTH|WRONGPASS|invalid password/i.test(e.message)) { clearTimeout(timer); resolve(false); }
      });
      redis.connect().catch(() => {});
    });
    if (ready) {
      try { if ((await redis.ping()) === 'PONG') return undefined; } catch (e) { last = (e as Error).message; }
    }
    return last ?? `no answer within ${ms / 1000} s`;
  } finally {
    redis.disconnect();
  }
}

/** Throws RedisUnreachableError, naming the URL, what was seen and what to check, unless Redis answers within `ms`. */
export async function ensureRedisAnswers(url: string, opts: { source: string; ms?: number }): Promise<void> {
  const ms = opts.ms ?? REACH_MS;
  const problem = (await redisProblem(url, ms))?.replace(/\.$/, '');
  if (problem === undefined) return;
  if (/NOAUTH|WRONGPASS|invalid password/i.test(problem)) {
    throw new RedisUnreachableError(`Redis at ${describeUrl(url)} refused the connection (${problem}): check the user and password in ${opts.source}`);
  }
  throw new RedisUnreachableError(`Redis does not answer at ${describeUrl(url)} (${problem}${/^no answer/.test(problem) ? '' : `; waited ${ms / 1000} s`}). `
    + `Check that redis-server runs there and is reachable from here, and that ${opts.source} is right; trireme doctor checks the whole setup`);
}

/** Connection options in the shape BullMQ takes, for classes that open their own (blocking) connections. */
export function bullConnection(url: string, name?: string): BullRedisOptions {
  return { ...redisOptions(url), connectionName: name } as BullRedisOptions;
}

/** Is this error Redis being unreachable (as opposed to a command failing)? */
export function isRedisDown(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|MaxRetriesPerRequest|Stream isn't writeable/i.test(m);
}

/** Resolves once `redis` is connected and ready, or after `ms` regardless. */
export function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    redis.once('ready', () => { clearTimeout(t); resolve(); });
  });
}
