/**
 * Redis connections. BullMQ wants `maxRetriesPerRequest: null` on connections that block, and every Trireme
 * connection should reconnect forever with a capped backoff: a Redis restart is an outage to wait out, not a crash.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** The Redis connection type, for code outside queue/ that is handed one. */
export type { Redis };
import type { RedisOptions as BullRedisOptions } from 'bullmq';

export function redisOptions(url: string): RedisOptions {
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
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
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
