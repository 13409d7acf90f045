/**
 * Redis connections. BullMQ wants `maxRetriesPerRequest: null` on connections that block, and every Trireme
 * connection should reconnect forever with a capped backoff: a Redis restart is an outage to wait out, not a crash.
 */
import { Redis, type RedisOptions } from 'ioredis';
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

export function connect(url: string, name?: string): Redis {
  const redis = new Redis({ ...redisOptions(url), connectionName: name });
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
