/**
 * The replica registry: every worker replica writes a small hash with a TTL on each heartbeat and an entry in one
 * index. A replica that dies stops beating; its hash expires and `list` drops it from the index. The heartbeat also
 * reads the replica's control key, which is how a drain request reaches a replica on another host.
 */
import type { Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';
import type { QueueTally, ReplicaInfo, ReplicaState, RunnerTally } from '../core/records.js';
import type { Notice } from '../core/notices.js';

export type { ReplicaInfo, ReplicaState } from '../core/records.js';

export { addTally, emptyTally, type QueueTally } from '../core/records.js';

export class ReplicaRegistry {
  private readonly prefix: string;

  constructor(private readonly redis: Redis, prefix: string, readonly ttlMs = 5_000) {
    this.prefix = ownPrefix(redis, prefix);
  }

  /**
   * Writes the replica's state and tallies (per queue, and per warm runner); returns a control command waiting for it
   * ('drain'), if any.
   */
  async beat(info: ReplicaInfo, tallies: Map<string, QueueTally> = new Map(), runners: Map<string, RunnerTally> = new Map()): Promise<string | null> {
    const key = keys.replica(this.prefix, info.id);
    const m = this.redis.multi()
      .hset(key, flatten(info))
      .pexpire(key, this.ttlMs)
      .zadd(keys.replicas(this.prefix), Date.now(), info.id)
      .getdel(keys.control(this.prefix, info.id));
    addTallies(m, this.prefix, tallies);
    for (const [runner, t] of runners) {
      const stats = keys.runnerStats(this.prefix, info.pool, runner);
      if (t.starts) m.hincrby(stats, 'starts', t.starts).hincrbyfloat(stats, 'startMs', t.startMs);
      t.startup.forEach((n, i) => { if (n) m.hincrby(stats, `s${i}`, n); });
      for (const [reason, n] of Object.entries(t.exits)) if (n) m.hincrby(stats, `exit:${reason}`, n);
    }
    const res = await m.exec();
    const control = res?.[3]?.[1];
    return typeof control === 'string' ? control : null;
  }

  /** Adds counters into the per-queue stats without a heartbeat (a source that reads replicas it does not run: Celery's). */
  async tally(tallies: Map<string, QueueTally>): Promise<void> {
    if (tallies.size === 0) return;
    const m = this.redis.multi();
    addTallies(m, this.prefix, tallies);
    await m.exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(keys.replica(this.prefix, id)).zrem(keys.replicas(this.prefix), id).exec();
  }

  /** Leaves a notice for the leading controller (ControlStore.takeNotices); the newest 100 are kept. */
  async notice(n: Notice): Promise<void> {
    await this.redis.multi().lpush(keys.notices(this.prefix), JSON.stringify(n)).ltrim(keys.notices(this.prefix), 0, 99).exec();
  }

  /** Asks a replica to drain at its next heartbeat; `hold`: and then to wait, drained, until it is removed. */
  async requestDrain(id: string, opts: { hold?: boolean } = {}): Promise<void> {
    await this.redis.set(keys.control(this.prefix, id), opts.hold ? 'drain:hold' : 'drain', 'PX', 60_000);
  }

  /** Live replicas, optionally of one pool; entries whose hash expired are cleaned from the index. */
  async list(pool?: string): Promise<ReplicaInfo[]> {
    const ids = await this.redis.zrange(keys.replicas(this.prefix), 0, -1);
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(keys.replica(this.prefix, id));
    const res = (await p.exec()) ?? [];
    const out: ReplicaInfo[] = [];
    const dead: string[] = [];
    res.forEach(([, h], i) => {
      const hash = h as Record<string, string>;
      if (!hash || !hash.id) { dead.push(ids[i]); return; }
      const info = unflatten(hash);
      if (!pool || info.pool === pool) out.push(info);
    });
    if (dead.length) await this.redis.zrem(keys.replicas(this.prefix), ...dead);
    return out.sort((a, b) => a.pool.localeCompare(b.pool) || a.startedAt - b.startedAt);
  }
}

/** The tallies' increments, by queue (or a Celery pool's label), onto a transaction. */
function addTallies(m: ReturnType<Redis['multi']>, prefix: string, tallies: Map<string, QueueTally>): void {
  for (const [queue, t] of tallies) {
    const stats = keys.stats(prefix, queue);
    const fields: (string | number)[] = ['completed', t.completed, 'failed', t.failed, 'cancelled', t.cancelled, 'waits', t.waits, 'cold', t.cold, 'submitted', t.submitted ?? 0];
    t.duration.forEach((n, i) => { if (n) fields.push(`d${i}`, n); });
    t.wait.forEach((n, i) => { if (n) fields.push(`w${i}`, n); });
    for (let i = 0; i < fields.length; i += 2) if (fields[i + 1]) m.hincrby(stats, fields[i] as string, fields[i + 1] as number);
    if (t.serviceMs) m.hincrbyfloat(stats, 'serviceMs', t.serviceMs);
    if (t.waitMs) m.hincrbyfloat(stats, 'waitMs', t.waitMs);
    for (const [id, run] of Object.entries(t.scheduled ?? {})) m.hset(keys.scheduleRuns(prefix), id, JSON.stringify(run));
  }
}

function flatten(info: ReplicaInfo): Record<string, string> {
  const out: Record<string, string> = {};
  // Objects (a replica's runners) travel as JSON in their field.
  for (const [k, v] of Object.entries(info)) if (v !== undefined) out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

function json<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try { return JSON.parse(text) as T; } catch { return undefined; }
}

function unflatten(h: Record<string, string>): ReplicaInfo {
  return {
    id: h.id, pool: h.pool, host: h.host, pid: Number(h.pid), container: h.container,
    state: h.state as ReplicaState, startedAt: Number(h.startedAt), lastActivity: Number(h.lastActivity),
    jobsDone: Number(h.jobsDone), running: Number(h.running), concurrency: Number(h.concurrency),
    ...(h.storage !== undefined ? { storage: h.storage } : {}),
    ...(h.runners !== undefined ? { runners: json(h.runners) ?? [] } : {}),
    ...numbers(h, ['cpuSeconds', 'cpuPercent', 'rss', 'gpuMemory', 'processes']),
  };
}

/** The fields of `h` that hold numbers, as numbers (resource figures are absent where a replica cannot read them). */
function numbers<K extends string>(h: Record<string, string>, fields: K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const f of fields) if (h[f] !== undefined && Number.isFinite(Number(h[f]))) out[f] = Number(h[f]);
  return out;
}

/**
 * A standby process: loaded and waiting to become a replica (of `pool`, or of any pool without env when empty); a
 * pool's own standby with warm runners reports them (started while it waits).
 */
export interface StandbyInfo { id: string; host: string; pid: number; pool: string; rss: number; startedAt: number; runners?: ReplicaInfo['runners'] }

/** Standbys announce themselves like replicas do (a hash with a TTL and one index), apart from the replica counts. */
export class StandbyRegistry {
  private readonly prefix: string;

  constructor(private readonly redis: Redis, prefix: string, readonly ttlMs = 15_000) {
    this.prefix = ownPrefix(redis, prefix);
  }

  async beat(info: StandbyInfo): Promise<void> {
    const key = keys.standby(this.prefix, info.id);
    await this.redis.multi().hset(key, flatten(info as unknown as ReplicaInfo)).pexpire(key, this.ttlMs)
      .zadd(keys.standbys(this.prefix), Date.now(), info.id).exec();
  }

  /** Adds counters into the per-queue stats without a heartbeat (a source that reads replicas it does not run: Celery's). */
  async tally(tallies: Map<string, QueueTally>): Promise<void> {
    if (tallies.size === 0) return;
    const m = this.redis.multi();
    addTallies(m, this.prefix, tallies);
    await m.exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(keys.standby(this.prefix, id)).zrem(keys.standbys(this.prefix), id).exec();
  }

  async list(): Promise<StandbyInfo[]> {
    const ids = await this.redis.zrange(keys.standbys(this.prefix), 0, -1);
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(keys.standby(this.prefix, id));
    const res = (await p.exec()) ?? [];
    const out: StandbyInfo[] = [];
    const dead: string[] = [];
    res.forEach(([, h], i) => {
      const x = h as Record<string, string>;
      if (!x?.id) { dead.push(ids[i]); return; }
      out.push({ id: x.id, host: x.host, pid: Number(x.pid), pool: x.pool ?? '', rss: Number(x.rss), startedAt: Number(x.startedAt), ...(x.runners !== undefined ? { runners: json(x.runners) ?? [] } : {}) });
    });
    if (dead.length) await this.redis.zrem(keys.standbys(this.prefix), ...dead);
    return out;
  }
}
