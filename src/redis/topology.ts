/**
 * How a connection is made for each way of running Redis, through ioredis' own support for each: one server
 * (`redis://`), the primary of a Sentinel set (`redis+sentinel://`: ioredis asks the sentinels for the primary on
 * every (re)connect, so a failover is a reconnect), or a Cluster
 * (`redis+cluster://`: ioredis learns which node serves which slot and follows MOVED redirections and failovers).
 * And what each connection is talking to now (`endpointOf`), for `doctor`, `/healthz` and serve's log.
 */
import { Cluster, Redis as Server, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from '../core/redis-url.js';

type Connection = Server | Cluster;

const targets = new Map<string, RedisTarget>();

/** The target of a URL (read once per URL; a bad URL throws with the message that says how to write it). */
export function targetOf(url: string): RedisTarget {
  let t = targets.get(url);
  if (!t) { t = parseRedisUrl(url); targets.set(url, t); }
  return t;
}

/** Reconnect forever, backing off to 2 s: an outage or a failover is waited out. */
const retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

/**
 * After a failover, a connection can still reach the old primary (back as a replica, or behind a DNS name not yet
 * moved): its writes are refused with READONLY. Reconnecting finds the new primary, and the command is sent again.
 */
const reconnectOnError = (err: Error) => (/READONLY|LOADING/.test(err.message) ? 2 : false);

interface Opts { name?: string; failFast?: boolean }

/** Options of a connection to one server, or to the primary the sentinels name. */
function serverOptions(t: Exclude<RedisTarget, { mode: 'cluster' }>, o: Opts): RedisOptions {
  const common: RedisOptions = {
    username: t.username, password: t.password, db: t.db, tls: t.tls ? {} : undefined,
    connectionName: o.name, maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy, reconnectOnError,
    ...(o.failFast ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : {}),
  };
  if (t.mode === 'single') return { ...common, host: t.host, port: t.port };
  return {
    ...common,
    sentinels: t.sentinels, name: t.name, role: 'master',
    sentinelUsername: t.sentinelUsername, sentinelPassword: t.sentinelPassword,
    ...(t.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // When every sentinel is away, ask again (ioredis' default gives up after a few tries).
    sentinelRetryStrategy: retryStrategy,
    // No failoverDetector (three more sentinel connections per connection, left reconnecting after a QUIT): a dead
    // primary closes the connection, and a demoted one is told by Sentinel to drop its clients (CLIENT KILL in the
    // failover) or refuses writes (READONLY, reconnectOnError above); either way the reconnect asks the sentinels.
  };
}

function clusterOptions(t: Extract<RedisTarget, { mode: 'cluster' }>, o: Opts): ClusterOptions {
  return {
    redisOptions: {
      username: t.username, password: t.password, tls: t.tls ? {} : undefined, connectionName: o.name,
      maxRetriesPerRequest: o.failFast ? 1 : null, enableReadyCheck: true,
    },
    clusterRetryStrategy: retryStrategy,
    enableOfflineQueue: !o.failFast,
    // While a failed primary's replica is promoted, its slots answer CLUSTERDOWN or not at all: retry, do not fail.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 100,
    // Learn a promotion from the cluster every few seconds even when no command was redirected yet.
    slotsRefreshInterval: 2_000,
  };
}

/** A new connection (it connects at once). */
export function openConnection(t: RedisTarget, o: Opts): Connection {
  return t.mode === 'cluster' ? new Cluster(t.nodes, clusterOptions(t, o)) : new Server(serverOptions(t, o));
}

/** A short-lived connection that says why it cannot connect rather than waiting forever (redisProblem). */
export function probeConnection(t: RedisTarget, ms: number): Connection {
  const retry = () => 250;
  if (t.mode === 'cluster') {
    const o = clusterOptions(t, { name: 'trireme-probe', failFast: true });
    return new Cluster(t.nodes, { ...o, lazyConnect: true, clusterRetryStrategy: retry, redisOptions: { ...o.redisOptions, maxRetriesPerRequest: 0, connectTimeout: ms } });
  }
  return new Server({
    ...serverOptions(t, { name: 'trireme-probe', failFast: true }), lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: ms,
    retryStrategy: retry, ...(t.mode === 'sentinel' ? { sentinelRetryStrategy: retry } : {}),
  });
}

/**
 * What BullMQ is given to open its own connections: options, or for a Cluster a Cluster (BullMQ cannot make one from
 * options) that BullMQ duplicates for its blocking connections and also uses itself, without closing it.
 */
export function templateConnection(t: RedisTarget, name?: string): RedisOptions | Cluster {
  if (t.mode !== 'cluster') return serverOptions(t, { name });
  const cluster = new Cluster(t.nodes, { ...clusterOptions(t, { name }), lazyConnect: true });
  cluster.on('error', () => {});
  return cluster;
}

/** What a connection talks to now. */
export interface Endpoint {
  mode: RedisTarget['mode'];
  /** host:port of the server, or of the primary Sentinel named (absent until connected). */
  primary?: string;
  /** Cluster: host:port of each primary, as the connection last learned them. */
  primaries?: string[];
  /** Sentinel: the master name. */
  master?: string;
}

/** The server or primaries `redis` is connected to, from what the connection knows (no round trip). */
export function endpointOf(redis: Connection, url: string): Endpoint {
  const t = targetOf(url);
  if (redis instanceof Cluster) {
    const primaries = redis.nodes('master').map((n) => `${n.options.host}:${n.options.port}`).sort();
    return { mode: t.mode, primaries };
  }
  const stream = (redis as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  const primary = redis.status === 'ready' && stream?.remoteAddress ? `${stream.remoteAddress.includes(':') ? `[${stream.remoteAddress}]` : stream.remoteAddress}:${stream.remotePort}` : undefined;
  return { mode: t.mode, ...(primary ? { primary } : {}), ...(t.mode === 'sentinel' ? { master: t.name } : {}) };
}
