/** A private redis-server for a benchmark run, on a free loopback port, with nothing persisted. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../src/redis/embedded.js';

export async function benchRedis(args: string[] = []): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  // A folder of its own: a replica still writes the primary's snapshot to its dir (dump.rdb) when it syncs.
  const dir = mkdtempSync(join(tmpdir(), 'trireme-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...args], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try { await r.connect(); await r.ping(); r.disconnect(); break; } catch { r.disconnect(); await new Promise((x) => setTimeout(x, 50)); }
  }
  return { url, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
}

/** Commands the server has run since its stats were last reset (`CONFIG RESETSTAT`), leaving out the bench's own. */
export async function commandCalls(admin: Redis): Promise<number> {
  let calls = 0;
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    // The bench's own, and what a replica (REPLCONF ACK every second) or a Cluster client's slot map costs a primary.
    if (!['info', 'config|resetstat', 'flushall', 'replconf', 'psync', 'cluster|slots', 'cluster|shards', 'cluster|nodes'].includes(m[1])) calls += Number(m[2]);
  }
  return calls;
}

/**
 * The Redis a bench runs on: a private redis-server (with `replicas` replicas of its own, for waitForReplicas); a
 * private Sentinel set (a primary, two replicas, three sentinels) or Cluster (three primaries with a replica each) on
 * loopback (`setup`, the integration tests' own, test/redis-setups.ts); or the one at `url`, any URL Trireme takes
 * (redis://, redis+sentinel://, redis+cluster://). Nothing is flushed: `clean` removes the bench's keys only (its
 * prefix), on every primary.
 */
export interface BenchTarget {
  url: string;
  /** For the table's footnote. */
  describe: string;
  /** Replicas of the primary with the fewest (0: waitForReplicas cannot be measured). */
  replicas: number;
  /** Removes every key of `prefix` (Trireme's own and BullMQ's, cluster hash tags included). */
  clean(prefix: string): Promise<void>;
  resetStats(): Promise<void>;
  /** Commands run on every primary since resetStats, leaving out the bench's own. */
  commandCalls(): Promise<number>;
  stop(): Promise<void>;
}

export async function benchTarget(o: { url?: string; replicas?: number; setup?: string } = {}): Promise<BenchTarget> {
  const { connect, describeUrl, whenReady } = await import('../src/redis/connection.js');
  let url = o.url;
  const stops: (() => unknown)[] = [];
  let describe = o.url ? describeUrl(o.url) : `private redis-server${o.replicas ? ` with ${o.replicas} replica(s)` : ''}`;
  if (o.setup) {
    if (o.setup !== 'sentinel' && o.setup !== 'cluster') throw new Error(`--setup takes sentinel or cluster, not "${o.setup}"`);
    const setups = await import('../test/redis-setups.js');
    const set = o.setup === 'sentinel' ? await setups.startSentinelSet() : await setups.startCluster();
    url = set.url;
    stops.push(() => set.stop());
    describe = o.setup === 'sentinel' ? 'private Sentinel set (primary, 2 replicas, 3 sentinels; AOF everysec)' : 'private Cluster (3 primaries with a replica each; AOF everysec)';
  } else if (!url) {
    const primary = await benchRedis();
    url = primary.url;
    stops.push(primary.stop);
    for (let i = 0; i < (o.replicas ?? 0); i++) {
      const replica = await benchRedis(['--replicaof', '127.0.0.1', new URL(primary.url).port]);
      stops.push(replica.stop);
    }
  }
  const conn = connect(url, 'trireme-bench-admin');
  await whenReady(conn, 10_000);
  const primaries = (): Redis[] => (conn.isCluster ? (conn as unknown as { nodes(role: string): Redis[] }).nodes('master') : [conn as Redis]);
  const replicasOf = async () => Math.min(...await Promise.all(primaries().map(async (p) => Number(/connected_slaves:(\d+)/.exec(await p.info('replication'))?.[1] ?? 0))));
  if (!o.url && !o.setup && o.replicas) {
    for (let i = 0; i < 200 && await replicasOf() < o.replicas; i++) await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    describe,
    replicas: await replicasOf(),
    async clean(prefix) {
      for (const p of primaries()) {
        for (const match of [`${prefix}:*`, `{${prefix}}:*`, `{${prefix}:*`]) {
          let cursor = '0';
          do {
            const [next, found] = await p.scan(cursor, 'MATCH', match, 'COUNT', 1000);
            cursor = next;
            // One key a command: keys of different slots on one node are fine that way.
            if (found.length) { const pipe = p.pipeline(); for (const k of found) pipe.unlink(k); await pipe.exec(); }
          } while (cursor !== '0');
        }
      }
    },
    async resetStats() { await Promise.all(primaries().map((p) => p.config('RESETSTAT'))); },
    async commandCalls() { return (await Promise.all(primaries().map((p) => commandCalls(p)))).reduce((a, b) => a + b, 0); },
    async stop() { conn.disconnect(); for (const s of stops) await s(); },
  };
}
