/**
 * Redis as production runs it, on loopback for the tests: a primary with replicas and three sentinels (Debian's
 * redis-server and redis-sentinel), or a Cluster of primaries with a replica each (`redis-cli --cluster create`).
 * Every process on a free port, its data and log in a temporary folder, stopped by `stop()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../src/redis/embedded.js';
import { waitFor } from './helpers.js';

export interface RedisProcess {
  port: number;
  address: string;
  log: string;
  /** kill -9. */
  kill(): Promise<void>;
  /** Starts it again, on the same port from the same folder (a supervisor bringing a dead server back). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that stops answering (and, a replica, stops taking the replication stream) for a while. */
  pause(): void;
  resume(): void;
  alive(): boolean;
}

const started: ChildProcess[] = [];

/** One redis-server (or sentinel) in `dir`, with `args`, answering PING before this returns. */
async function server(dir: string, args: string[], opts: { sentinel?: string } = {}): Promise<RedisProcess> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'redis.log');
  let child!: ChildProcess;
  const conf = join(dir, 'sentinel.conf');
  if (opts.sentinel !== undefined) writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nlogfile ${log}\n${opts.sentinel}`);
  const start = async () => {
    child = opts.sentinel !== undefined
      ? spawn('redis-sentinel', [conf], { stdio: 'ignore' })
      // No delay before a replica's first full sync (Redis waits 5 s by default for more replicas to share it).
      : spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', log, '--save', '', '--repl-diskless-sync-delay', '0', ...args], { stdio: 'ignore' });
    started.push(child);
    await waitFor(() => ping(port), 15_000, `redis on ${port} to answer`);
  };
  await start();
  return {
    port, address: `127.0.0.1:${port}`, log,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((done) => { child.once('exit', () => done()); child.kill('SIGKILL'); });
    },
    restart: start,
    pause: () => { child.kill('SIGSTOP'); },
    resume: () => { child.kill('SIGCONT'); },
  };
}

async function ping(port: number): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try { await r.connect(); return (await r.ping()) === 'PONG'; } catch { return false; } finally { r.disconnect(); }
}

/** Until every replica among `nodes` has its link to its primary up (a replica that never synced cannot be promoted). */
async function replicasInSync(nodes: RedisProcess[]): Promise<void> {
  await waitFor(async () => {
    const states = await Promise.all(nodes.map(async (x) => {
      const r = direct(x.port);
      try { const info = await r.info('replication'); return !/role:slave/.test(info) || /master_link_status:up/.test(info); } finally { r.disconnect(); }
    }));
    return states.every(Boolean);
  }, 30_000, 'every replica to sync with its primary');
}

/** A plain connection to one server of a set (not through Sentinel or the Cluster): for INFO, ROLE and the like. */
export function direct(port: number): Redis {
  const r = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => {});
  return r;
}

export interface SentinelSet {
  /** redis+sentinel://… naming the three sentinels and the master. */
  url: string;
  master: string;
  primary: RedisProcess;
  replicas: RedisProcess[];
  sentinels: RedisProcess[];
  /** The primary the sentinels name now. */
  currentPrimary(): Promise<string>;
  stop(): Promise<void>;
}

/** A primary with `replicas` replicas (startPrimary) and three sentinels that call it down after `downAfterMs` without an answer. */
/** A primary with `replicas` replicas in sync (AOF on, fsync every second, as in production). */
export async function startPrimary(o: { replicas?: number; root?: string } = {}): Promise<{ primary: RedisProcess; replicas: RedisProcess[]; url: string }> {
  const root = o.root ?? mkdtempSync(join(tmpdir(), 'trireme-primary-'));
  const data = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
  const primary = await server(join(root, 'primary'), data);
  const replicas = await Promise.all(Array.from({ length: o.replicas ?? 1 }, (_, i) => server(join(root, `replica-${i}`), [...data, '--replicaof', '127.0.0.1', String(primary.port)])));
  await waitFor(async () => {
    const r = direct(primary.port);
    try { return /connected_slaves:(\d+)/.exec(await r.info('replication'))?.[1] === String(replicas.length); } finally { r.disconnect(); }
  }, 15_000, 'the replicas to connect to the primary');
  await replicasInSync(replicas);
  return { primary, replicas, url: `redis://${primary.address}` };
}

export async function startSentinelSet(o: { replicas?: number; downAfterMs?: number } = {}): Promise<SentinelSet> {
  const root = mkdtempSync(join(tmpdir(), 'trireme-sentinel-'));
  const master = 'trireme';
  const { primary, replicas } = await startPrimary({ replicas: o.replicas ?? 2, root });
  const conf = `sentinel monitor ${master} 127.0.0.1 ${primary.port} 2\nsentinel down-after-milliseconds ${master} ${o.downAfterMs ?? 1000}\n`
    + `sentinel failover-timeout ${master} 10000\nsentinel parallel-syncs ${master} 2\n`;
  const sentinels = await Promise.all([0, 1, 2].map((i) => server(join(root, `sentinel-${i}`), [], { sentinel: conf })));
  // The sentinels find each other through the primary's hello channel: wait until each knows the other two.
  await waitFor(async () => {
    const counts = await Promise.all(sentinels.map(async (s) => {
      const r = direct(s.port);
      try { return ((await r.call('SENTINEL', 'SENTINELS', master)) as unknown[]).length; } finally { r.disconnect(); }
    }));
    return counts.every((n) => n === 2);
  }, 30_000, 'the sentinels to discover each other');
  const all = [primary, ...replicas, ...sentinels];
  return {
    url: `redis+sentinel://${sentinels.map((s) => s.address).join(',')}/${master}`,
    master, primary, replicas, sentinels,
    async currentPrimary() {
      for (const s of sentinels.filter((x) => x.alive())) {
        const r = direct(s.port);
        try { const [ip, port] = await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', master) as string[]; return `${ip}:${port}`; } catch { /* next */ } finally { r.disconnect(); }
      }
      throw new Error('no sentinel answered');
    },
    async stop() { await Promise.all(all.map((p) => p.kill())); },
  };
}

export interface RedisClusterSet {
  /** redis+cluster://… naming every primary. */
  url: string;
  nodes: RedisProcess[];
  /** Host:port of each primary as CLUSTER NODES says now. */
  primaries(): Promise<string[]>;
  /** The cluster's error counts by error prefix, summed over every node still up (INFO errorstats). */
  errorstats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** A Cluster of `primaries` primaries with `replicasPer` replica each, AOF on, failing a node over after `nodeTimeoutMs`. */
export async function startCluster(o: { primaries?: number; replicasPer?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterSet> {
  const root = mkdtempSync(join(tmpdir(), 'trireme-cluster-'));
  const n = (o.primaries ?? 3) * (1 + (o.replicasPer ?? 1));
  const nodes = await Promise.all(Array.from({ length: n }, (_, i) => server(join(root, `node-${i}`), [
    '--cluster-enabled', 'yes', '--cluster-config-file', join(root, `node-${i}`, 'nodes.conf'), '--cluster-node-timeout', String(o.nodeTimeoutMs ?? 2000),
    '--appendonly', 'yes', '--appendfsync', 'everysec',
  ])));
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((x) => x.address), '--cluster-replicas', String(o.replicasPer ?? 1), '--cluster-yes'], { timeout: 60_000 });
  await waitFor(async () => {
    const states = await Promise.all(nodes.map(async (x) => {
      const r = direct(x.port);
      try { return /cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO'))); } finally { r.disconnect(); }
    }));
    return states.every(Boolean);
  }, 60_000, 'every cluster node to say cluster_state:ok');
  await replicasInSync(nodes);
  const primaries = async () => {
    for (const x of nodes.filter((y) => y.alive())) {
      const r = direct(x.port);
      try {
        const text = String(await r.call('CLUSTER', 'NODES'));
        // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots...>: primaries that serve slots.
        return text.split('\n').map((l) => l.split(' ')).filter((f) => f.length > 8 && f[2].split(',').includes('master') && !/fail/.test(f[2]))
          .map((f) => f[1].split('@')[0]).sort();
      } catch { /* next */ } finally { r.disconnect(); }
    }
    throw new Error('no cluster node answered');
  };
  return {
    url: `redis+cluster://${nodes.map((x) => x.address).join(',')}`,
    nodes,
    primaries,
    async errorstats() {
      const total: Record<string, number> = {};
      for (const x of nodes.filter((y) => y.alive())) {
        const r = direct(x.port);
        try {
          for (const m of (await r.info('errorstats')).matchAll(/errorstat_(\w+):count=(\d+)/g)) total[m[1]] = (total[m[1]] ?? 0) + Number(m[2]);
        } catch { /* gone meanwhile */ } finally { r.disconnect(); }
      }
      return total;
    },
    async stop() { await Promise.all(nodes.map((x) => x.kill())); },
  };
}

/** Lines of a log file matching `re` (0 when the file is gone). */
export function countInLog(file: string, re: RegExp): number {
  try { return readFileSync(file, 'utf8').split('\n').filter((l) => re.test(l)).length; } catch { return 0; }
}

/** Kills every server these helpers started (a test's `after`). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all(started.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise<void>((done) => { c.once('exit', () => done()); c.kill('SIGKILL'); }) : undefined)));
  started.length = 0;
}
