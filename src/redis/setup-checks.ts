/**
 * `trireme doctor`'s checks of the Redis setup, the mistakes Redis users make with job queues: an eviction policy that
 * lets Redis drop jobs when it is full, no persistence (a restart loses every queued job), a server older than what
 * BullMQ and Trireme need, a Sentinel set too small to agree on a failover, a Cluster primary without a replica, and
 * `redis.waitForReplicas` asking for more replicas than there are. Facts are read with INFO (which managed services
 * answer) and CONFIG GET where allowed; the verdicts are pure functions of them (table-tested), each message saying the fix.
 */
import { Redis as Server, type Cluster } from 'ioredis';
import type { Redis } from './connection.js';
import type { Keyspace } from './keyspace.js';
import { endpointOf, targetOf } from './topology.js';

export interface SetupCheck { name: string; status: 'ok' | 'warn' | 'fail'; detail: string }

/** What one server says of itself. */
export interface ServerFacts {
  address: string;
  version: string;
  /** Replicas connected to it (INFO replication connected_slaves). */
  replicas: number;
  /** Bytes; 0: no limit. */
  maxmemory: number;
  policy?: string;
  aof: boolean;
  appendfsync?: string;
  /** `save` as CONFIG GET reports it ('' = no RDB snapshots); undefined when CONFIG is refused. */
  save?: string;
}

/** Trireme's own commands need 6.2 (GETDEL in the registry's heartbeat); BullMQ needs 5.0 and recommends 6.2. */
export const MIN_VERSION = [6, 2] as const;

const older = (version: string, [major, minor]: readonly [number, number]) => {
  const [a, b] = version.split('.').map(Number);
  return !(a > major || (a === major && b >= minor));
};

/** Verdicts on the servers that take writes (one, the Sentinel primary, or each Cluster primary). */
export function judgeServers(servers: ServerFacts[], o: { label: string; mode: string; waitForReplicas: number }): SetupCheck[] {
  const out: SetupCheck[] = [];
  const versions = [...new Set(servers.map((s) => s.version))];
  const old = servers.filter((s) => older(s.version, MIN_VERSION));
  const where = servers.length === 1 ? `, primary ${servers[0].address}` : `, ${servers.length} primaries`;
  out.push(old.length
    ? { name: 'redis', status: 'fail', detail: `${versions.join(', ')} at ${o.label}${where}: Trireme needs Redis ${MIN_VERSION.join('.')} or newer (BullMQ needs 5.0 and recommends 6.2); upgrade redis-server on ${old.map((s) => s.address).join(', ')}` }
    : { name: 'redis', status: 'ok', detail: `${versions.join(', ')} at ${o.label}${where}` });

  const evicting = servers.filter((s) => s.policy !== undefined && s.policy !== 'noeviction');
  const unknown = servers.filter((s) => s.policy === undefined);
  const fix = 'set maxmemory-policy noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf or the service\'s parameter group)';
  if (evicting.some((s) => s.maxmemory > 0)) {
    const s = evicting.find((x) => x.maxmemory > 0)!;
    out.push({ name: 'redis eviction', status: 'fail', detail: `maxmemory-policy ${s.policy} with maxmemory ${s.maxmemory} bytes on ${s.address}: when Redis is full it deletes keys, and BullMQ loses jobs and locks; ${fix}` });
  } else if (evicting.length) {
    out.push({ name: 'redis eviction', status: 'warn', detail: `maxmemory-policy ${evicting[0].policy} on ${evicting[0].address}: no maxmemory is set now, but once one is, Redis evicts jobs when full; ${fix}` });
  } else if (unknown.length) {
    out.push({ name: 'redis eviction', status: 'warn', detail: `maxmemory-policy could not be read on ${unknown[0].address}; make sure it is noeviction` });
  } else {
    out.push({ name: 'redis eviction', status: 'ok', detail: 'maxmemory-policy noeviction' });
  }

  const none = servers.filter((s) => !s.aof && s.save === '');
  const rdbOnly = servers.filter((s) => !s.aof && s.save !== '');
  const aofFix = 'set appendonly yes (appendfsync everysec loses at most a second of writes; always, none)';
  if (none.some((s) => s.replicas === 0)) {
    const s = none.find((x) => x.replicas === 0)!;
    out.push({ name: 'redis persistence', status: 'fail', detail: `${s.address} keeps nothing on disk and has no replica: a restart loses every queued job; ${aofFix}` });
  } else if (none.length) {
    out.push({ name: 'redis persistence', status: 'warn', detail: `${none[0].address} keeps nothing on disk: only its replicas hold the jobs, and a primary restarted empty before a failover wipes them too; ${aofFix}` });
  } else if (rdbOnly.length) {
    const s = rdbOnly[0];
    out.push({ name: 'redis persistence', status: 'warn', detail: `${s.address} writes RDB snapshots only${s.save ? ` (save "${s.save}")` : ''}: a restart loses the jobs written since the last one; ${aofFix}` });
  } else {
    out.push({ name: 'redis persistence', status: 'ok', detail: `AOF on${servers[0]?.appendfsync ? ` (appendfsync ${servers[0].appendfsync})` : ''}` });
  }

  const fewest = Math.min(...servers.map((s) => s.replicas));
  if (o.waitForReplicas > 0) {
    const short = servers.find((s) => s.replicas < o.waitForReplicas);
    out.push(short
      ? { name: 'redis replicas', status: 'fail', detail: `redis.waitForReplicas is ${o.waitForReplicas} but ${short.address} has ${short.replicas} replica(s) connected: every submit waits redis.waitTimeout and fails; add replicas or lower waitForReplicas` }
      : { name: 'redis replicas', status: 'ok', detail: `${fewest} or more replica(s) per primary; a submit is acknowledged once ${o.waitForReplicas} hold it (redis.waitForReplicas)` });
  } else if (o.mode !== 'single') {
    out.push(fewest === 0
      ? { name: 'redis replicas', status: 'fail', detail: `${servers.find((s) => s.replicas === 0)!.address} has no replica: if it fails there is nothing to promote and its jobs stop; give every primary a replica` }
      : { name: 'redis replicas', status: 'ok', detail: `${fewest} or more replica(s) per primary; submits are acknowledged by the primary alone (asynchronous replication: a failover can lose the last writes, see redis.waitForReplicas)` });
  }
  return out;
}

/** What the sentinels say of the master they monitor. */
export interface SentinelFacts { sentinels: number; quorum: number; replicas: number; primary: string; ckquorum: string }

export function judgeSentinel(f: SentinelFacts, master: string): SetupCheck {
  const base = `${f.sentinels} sentinel(s) monitor "${master}" (quorum ${f.quorum}), primary ${f.primary}, ${f.replicas} replica(s)`;
  if (!/^OK/.test(f.ckquorum)) return { name: 'sentinel', status: 'fail', detail: `${base}: ${f.ckquorum.replace(/^-?\w+\s*/, '')}; a failover cannot be authorized. Start the missing sentinels` };
  if (f.sentinels < 3) return { name: 'sentinel', status: 'warn', detail: `${base}: with fewer than three sentinels, losing one machine can leave none able to agree on a failover; run three or more, on separate machines` };
  if (f.replicas === 0) return { name: 'sentinel', status: 'fail', detail: `${base}: no replica to promote; add one (replicaof the primary)` };
  return { name: 'sentinel', status: 'ok', detail: base };
}

/** All of the checks, reading what they need through `redis` (and, for Sentinel, from the sentinels in `url`). */
export async function redisSetupChecks(redis: Redis, url: string, o: { label: string; waitForReplicas: number; keyspace: Keyspace; queues: string[] }): Promise<SetupCheck[]> {
  const t = targetOf(url);
  const cluster = redis.isCluster ? redis as Cluster : undefined;
  const nodes = cluster ? cluster.nodes('master') : [redis as Server];
  const servers = await Promise.all(nodes.map((n) => serverFacts(n, cluster ? `${n.options.host}:${n.options.port}` : endpointOf(n, url).primary ?? '?')));
  const out = judgeServers(servers, { label: o.label, mode: t.mode, waitForReplicas: o.waitForReplicas });
  if (t.mode === 'sentinel') {
    const f = await sentinelFacts(t);
    out.push(typeof f === 'string' ? { name: 'sentinel', status: 'fail', detail: f } : judgeSentinel(f, t.name));
  }
  if (cluster) out.push(await clusterCheck(cluster, o.keyspace, o.queues));
  return out;
}

function fields(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) { const i = line.indexOf(':'); if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim()); }
  return m;
}

async function serverFacts(node: Server, address: string): Promise<ServerFacts> {
  const info = fields(await node.info());
  const save = await node.config('GET', 'save').then((r) => (r as string[])[1], () => undefined);
  const fsync = await node.config('GET', 'appendfsync').then((r) => (r as string[])[1], () => undefined);
  return {
    address,
    version: info.get('redis_version') ?? info.get('valkey_version') ?? '?',
    replicas: Number(info.get('connected_slaves') ?? 0),
    maxmemory: Number(info.get('maxmemory') ?? 0),
    policy: info.get('maxmemory_policy'),
    aof: info.get('aof_enabled') === '1',
    ...(fsync ? { appendfsync: fsync } : {}),
    ...(save !== undefined ? { save } : {}),
  };
}

/** Asks the first sentinel of the URL that answers; a string says why none did. */
async function sentinelFacts(t: Extract<ReturnType<typeof targetOf>, { mode: 'sentinel' }>): Promise<SentinelFacts | string> {
  let last = 'no sentinel listed';
  for (const s of t.sentinels) {
    const conn = new Server({
      host: s.host, port: s.port, username: t.sentinelUsername, password: t.sentinelPassword, tls: t.tls ? {} : undefined,
      lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000, enableReadyCheck: false,
    });
    conn.on('error', () => {});
    try {
      await conn.connect();
      const master = pairs(await conn.call('SENTINEL', 'MASTER', t.name) as string[]);
      const others = Number(master.get('num-other-sentinels') ?? 0);
      const ckquorum = await conn.call('SENTINEL', 'CKQUORUM', t.name).then((r) => String(r), (e: Error) => e.message);
      return {
        sentinels: others + 1, quorum: Number(master.get('quorum') ?? 0), replicas: Number(master.get('num-slaves') ?? 0),
        primary: `${master.get('ip')}:${master.get('port')}`, ckquorum,
      };
    } catch (e) {
      last = `sentinel ${s.host}:${s.port}: ${(e as Error).message}`;
    } finally {
      conn.disconnect();
    }
  }
  return `no sentinel answered about "${t.name}" (${last}); check the sentinels and the master name`;
}

const pairs = (flat: string[]) => { const m = new Map<string, string>(); for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i], flat[i + 1]); return m; };

/** The cluster's state, and which primary each queue lives on (its hash tag's slot). */
async function clusterCheck(cluster: Cluster, keyspace: Keyspace, queues: string[]): Promise<SetupCheck> {
  const state = fields(String(await cluster.cluster('INFO'))).get('cluster_state') ?? '?';
  const byNode = new Map<string, string[]>();
  for (const q of queues) {
    const slot = Number(await cluster.cluster('KEYSLOT', keyspace.queuePrefix(q)));
    const node = cluster.slots[slot]?.[0] ?? '?';
    byNode.set(node, [...byNode.get(node) ?? [], q]);
  }
  const primaries = cluster.nodes('master').length;
  const placement = [...byNode].sort().map(([node, qs]) => `${node}: ${qs.join(', ')}`).join('; ');
  const detail = `${primaries} primaries, cluster_state ${state}; queues by primary (a queue lives on one; redis.hashTags moves them): ${placement}`;
  if (state !== 'ok') return { name: 'cluster', status: 'fail', detail: `${detail}; CLUSTER INFO says the cluster is not serving every slot: check CLUSTER NODES` };
  if (primaries > 1 && byNode.size === 1 && queues.length > 1) return { name: 'cluster', status: 'warn', detail: `${detail}; every queue is on one primary: give some a different tag in redis.hashTags to spread them` };
  return { name: 'cluster', status: 'ok', detail };
}
