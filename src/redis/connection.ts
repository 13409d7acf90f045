/**
 * Redis connections, every one Trireme opens: to one server, to the primary that Sentinel names (ioredis asks the
 * sentinels again on every reconnect, so after a failover each connection finds the new primary by itself), or to a
 * Cluster (topology.ts says how each is made from its URL). BullMQ wants `maxRetriesPerRequest: null` on connections
 * that block, and every Trireme connection should reconnect forever with a capped backoff: a Redis restart or a
 * failover is an outage to wait out, not a crash.
 */
import { Cluster, type Redis as Server } from 'ioredis';
import type { ConnectionOptions } from 'bullmq';
import { redactRedisUrl } from '../core/redis-url.js';
import { RedisUnreachableError } from './errors.js';
import { openConnection, probeConnection, templateConnection, targetOf } from './topology.js';

/**
 * A connection: to one server (or the primary Sentinel names), or to a Cluster. Both take the same commands; what
 * differs (a Cluster refuses keys of different slots in one command) is keyspace.ts's concern.
 */
export type Redis = Server | Cluster;

/**
 * A connection. `failFast`: while Redis is away, commands fail at once instead of waiting in ioredis' offline queue
 * (BullMQ's advice for producers): a server answers "unavailable" rather than hanging, and a write refused now is
 * not carried out later behind the caller's back.
 */
export function connect(url: string, name?: string, opts: { failFast?: boolean } = {}): Redis {
  const redis = openConnection(targetOf(url), { name, failFast: opts.failFast });
  // Errors are reported through the owners' health checks; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  return redis;
}

/** Redacts passwords from a URL for logs. */
export function describeUrl(url: string): string {
  return redactRedisUrl(url);
}

/** Final answers, not a server still starting: a refused password, a master the sentinels do not know, no cluster there. */
const FINAL = /NOAUTH|WRONGPASS|invalid password|No such master|cluster support disabled/i;

/** How long a command waits for Redis to answer before it says that it does not. */
export const REACH_MS = 5_000;

/**
 * Whether Redis answers PING at `url` within `ms`, on a short-lived connection of its own: undefined when it does,
 * else what was seen (the last connection error: refused, a name that does not resolve, a wrong password, no
 * sentinel that knows the master, no cluster node that answers). Commands call this before anything else, because
 * their own connections wait for Redis forever without a word.
 */
export async function redisProblem(url: string, ms = REACH_MS): Promise<string | undefined> {
  let last: string | undefined;
  const redis = probeConnection(targetOf(url), ms);
  try {
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      redis.once('ready', () => { clearTimeout(timer); resolve(true); });
      const seen = (e: Error & { lastNodeError?: Error }) => {
        let message = e.lastNodeError ? `${e.message} (${e.lastNodeError.message})` : e.message;
        // ioredis' words for "no sentinel gave a primary", with the reason last: the reason first.
        const sentinels = /^All sentinels are unreachable\. Retrying from scratch after \d+ms\.(?: Last error: (.*))?$/.exec(message);
        if (sentinels) message = sentinels[1] ? `no sentinel named a primary: ${sentinels[1]}` : 'no sentinel answered';
        message = message.replace(/^failed to connect to sentinel (\S+) because /, 'sentinel $1: ');
        // What the offline queue says about a connection still being made is not news; a refused password is final.
        if (!/enableOfflineQueue|Stream isn't writeable/.test(message)) last = message;
        if (FINAL.test(message)) { clearTimeout(timer); resolve(false); }
      };
      redis.on('error', seen);
      // A sentinel that answers but does not know the master says so here, not as an error.
      redis.on('sentinelError', seen);
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
  const mode = targetOf(url).mode;
  const where = mode === 'sentinel' ? 'that the sentinels run there and monitor this master name'
    : mode === 'cluster' ? 'that the cluster nodes run there with cluster-enabled yes' : 'that redis-server runs there';
  throw new RedisUnreachableError(`Redis does not answer at ${describeUrl(url)} (${problem}${/^no answer/.test(problem) || FINAL.test(problem) ? '' : `; waited ${ms / 1000} s`}). `
    + `Check ${where} and are reachable from here, and that ${opts.source} is right; trireme doctor checks the whole setup`);
}

/**
 * Connection options in the shape BullMQ takes, for classes that open their own (blocking) connections: options for
 * one server or Sentinel; for a Cluster, a Cluster connection, which BullMQ duplicates for the connections it opens
 * (and closes those) but does not close itself: pass it to closeBullConnection once the BullMQ objects are closed.
 */
export function bullConnection(url: string, name?: string): ConnectionOptions {
  return templateConnection(targetOf(url), name) as ConnectionOptions;
}

/** Closes what bullConnection made, if it is a connection (a Cluster's); options need nothing. */
export function closeBullConnection(c: ConnectionOptions): void {
  if (c instanceof Cluster) c.disconnect();
}

/** Is this error Redis being unreachable (as opposed to a command failing)? */
export function isRedisDown(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /enableOfflineQueue|Connection is closed|ECONNREFUSED|ECONNRESET|MaxRetriesPerRequest|Stream isn't writeable|Cluster isn't ready|CLUSTERDOWN|Too many Cluster redirections|Failed to refresh slots cache|All sentinels are unreachable/i.test(m);
}

/** Resolves once `redis` is connected and ready, or after `ms` regardless. */
export function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    redis.once('ready', () => { clearTimeout(t); resolve(); });
  });
}

export { endpointOf, type Endpoint } from './topology.js';
