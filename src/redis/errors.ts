/** Errors about Redis that callers catch by class; kept apart so that catching them loads no Redis client. */

/** No Redis is configured and none can be started here. */
export class RedisNotFoundError extends Error {
  constructor(message?: string) {
    super(message ?? ('no Redis is configured and no redis-server is on PATH. Install one (Debian/Ubuntu: apt-get install redis-server; '
      + 'macOS: brew install redis) or point Trireme at a running Redis with TRIREME_REDIS_URL=redis://HOST:6379 or redis.url in trireme.yml'));
    this.name = 'RedisNotFoundError';
  }
}

/** Redis is configured but does not answer: a failure (exit 1), not a usage error, since the config may be right. */
export class RedisUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnreachableError';
  }
}
