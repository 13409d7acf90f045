/**
 * What the controller keeps in Redis for the faces (API, CLI, dashboard): scale events (a bounded list), the last
 * decision per pool, and manual overrides (paused autoscaling, a pinned replica count).
 */
import type { Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';
import { JOB_SECONDS_BUCKETS } from '../core/histogram.js';
import type { Override, QueueDepth, ScaleEvent, StoredDecision } from '../core/records.js';
import type { Notice } from '../core/notices.js';

export type { ScaleEvent, Override, StoredDecision } from '../core/records.js';

/** How long a recorded broker depth is shown without a newer read. */
const BROKER_DEPTHS_TTL_MS = 30_000;

export class ControlStore {
  private readonly prefix: string;

  constructor(private readonly redis: Redis, prefix: string, private readonly eventsKept = 500) {
    this.prefix = ownPrefix(redis, prefix);
  }

  /** Records a scale event: the bounded list, a counter by pool and direction, and a live event for SSE. */
  async addEvent(e: ScaleEvent): Promise<void> {
    const direction = e.to > e.from ? 'up' : 'down';
    await this.redis.multi()
      .lpush(keys.scaleEvents(this.prefix), JSON.stringify(e)).ltrim(keys.scaleEvents(this.prefix), 0, this.eventsKept - 1)
      .hincrby(keys.scaleCounts(this.prefix), `${e.pool}:${direction}`, 1)
      .publish(keys.events(this.prefix), JSON.stringify({ type: 'scale', ...e }))
      .exec();
  }

  /** Scale events ever recorded, by pool and direction (for the `_total` counter). */
  async eventCounts(): Promise<{ pool: string; direction: string; count: number }[]> {
    const h = await this.redis.hgetall(keys.scaleCounts(this.prefix));
    return Object.entries(h).map(([k, v]) => { const i = k.lastIndexOf(':'); return { pool: k.slice(0, i), direction: k.slice(i + 1), count: Number(v) }; });
  }

  async events(limit = 100): Promise<ScaleEvent[]> {
    return (await this.redis.lrange(keys.scaleEvents(this.prefix), 0, limit - 1)).map((s) => JSON.parse(s));
  }

  async saveDecisions(decisions: StoredDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    await this.redis.hset(keys.decisions(this.prefix), Object.fromEntries(decisions.map((d) => [d.pool, JSON.stringify(d)])));
  }

  async decisions(): Promise<Record<string, StoredDecision>> {
    const h = await this.redis.hgetall(keys.decisions(this.prefix));
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, JSON.parse(v)]));
  }

  /** What each pool's autoscaler learned (keep-warm's idle gaps, flaps), so that a new leader goes on from it. */
  async learned(): Promise<Record<string, unknown>> {
    const h = await this.redis.hgetall(keys.learned(this.prefix));
    const out: Record<string, unknown> = {};
    for (const [pool, v] of Object.entries(h)) { try { out[pool] = JSON.parse(v); } catch { /* unreadable: learned afresh */ } }
    return out;
  }

  async saveLearned(learned: Record<string, unknown>): Promise<void> {
    if (Object.keys(learned).length === 0) return;
    await this.redis.hset(keys.learned(this.prefix), Object.fromEntries(Object.entries(learned).map(([pool, l]) => [pool, JSON.stringify(l)])));
  }

  /** Records the leader; returns the one recorded before it (whose lease a new leader took over). */
  async swapLeader(id: string): Promise<string | null> {
    return this.redis.set(keys.lastLeader(this.prefix), id, 'GET');
  }

  /** Takes the notices replicas left for the controller (drain timeouts), oldest first. */
  async takeNotices(): Promise<Notice[]> {
    const res = await this.redis.multi().lrange(keys.notices(this.prefix), 0, -1).del(keys.notices(this.prefix)).exec();
    const list = (res?.[0]?.[1] ?? []) as string[];
    const out: Notice[] = [];
    // LPUSH puts the newest first.
    for (const s of list.reverse()) { try { out.push(JSON.parse(s) as Notice); } catch { /* not ours */ } }
    return out;
  }

  /** Pins a pool at `replicas` and pauses its autoscaling (`resume` gives it back to the autoscaler). */
  async setReplicas(pool: string, replicas: number): Promise<void> {
    await this.setOverride(pool, { paused: true, replicas, at: Date.now() });
  }

  async pause(pool: string): Promise<void> {
    const cur = (await this.overrides())[pool];
    await this.setOverride(pool, { ...cur, paused: true, at: Date.now() });
  }

  async resume(pool: string): Promise<void> {
    await this.setOverride(pool, undefined);
  }

  /** Writes (or clears) a pool's override and tells live viewers at once. */
  private async setOverride(pool: string, o: Override | undefined): Promise<void> {
    const m = this.redis.multi();
    if (o) m.hset(keys.overrides(this.prefix), pool, JSON.stringify(o));
    else m.hdel(keys.overrides(this.prefix), pool);
    await m.publish(keys.events(this.prefix), JSON.stringify({ type: 'override', pool, paused: o?.paused ?? false, replicas: o?.replicas, at: Date.now() })).exec();
  }

  async overrides(): Promise<Record<string, Override>> {
    const h = await this.redis.hgetall(keys.overrides(this.prefix));
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, JSON.parse(v)]));
  }

  /**
   * Depths of another broker's queues (a Celery pool's), as the controller last read them, for the faces: they
   * cannot read that broker themselves. Short-lived: without a controller reading them they go within 30 s.
   */
  async saveBrokerDepths(depths: QueueDepth[], at: number): Promise<void> {
    const key = keys.brokerDepths(this.prefix);
    await this.redis.multi().hset(key, Object.fromEntries(depths.map((d) => [d.queue, JSON.stringify({ ...d, at })]))).pexpire(key, BROKER_DEPTHS_TTL_MS).exec();
  }

  /** The recorded depths of these queues (or labels); those older than their lifetime are left out. */
  async brokerDepths(queues: string[], now: number): Promise<QueueDepth[]> {
    if (queues.length === 0) return [];
    const values = await this.redis.hmget(keys.brokerDepths(this.prefix), ...queues);
    return values.flatMap((v) => {
      if (!v) return [];
      const { at, ...d } = JSON.parse(v) as QueueDepth & { at: number };
      return now - at <= BROKER_DEPTHS_TTL_MS ? [d] : [];
    });
  }

  /** Job counters per queue: arrivals (written by clients), outcomes and histograms (written by replicas). */
  /** Totals of each (pool, runner) pair given. */
  async runnerStats(pairs: { pool: string; runner: string }[]): Promise<RunnerStats[]> {
    if (pairs.length === 0) return [];
    const p = this.redis.pipeline();
    for (const { pool, runner } of pairs) p.hgetall(keys.runnerStats(this.prefix, pool, runner));
    const res = (await p.exec()) ?? [];
    return pairs.map(({ pool, runner }, i) => {
      const h = (res[i]?.[1] ?? {}) as Record<string, string>;
      const n = (k: string) => Number(h[k] ?? 0);
      const exits = Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('exit:')).map(([k, v]) => [k.slice(5), Number(v)]));
      return { pool, runner, starts: n('starts'), startMs: n('startMs'), startup: Array.from({ length: JOB_SECONDS_BUCKETS.length + 1 }, (_, b) => n(`s${b}`)), exits };
    });
  }

  async stats(queues: string[]): Promise<Map<string, QueueStats>> {
    const p = this.redis.pipeline();
    for (const q of queues) p.hgetall(keys.stats(this.prefix, q));
    const res = (await p.exec()) ?? [];
    return new Map(queues.map((q, i) => [q, parseStats((res[i]?.[1] ?? {}) as Record<string, string>)]));
  }
}

/** A warm runner's totals over a pool's replicas: start-ups (count, seconds, per-bucket counts) and exits by reason. */
export interface RunnerStats { pool: string; runner: string; starts: number; startMs: number; startup: number[]; exits: Record<string, number> }

export interface QueueStats {
  submitted: number; completed: number; failed: number; cancelled: number; serviceMs: number;
  /** Per-bucket (not cumulative) counts; index JOB_SECONDS_BUCKETS.length is +Inf. */
  duration: number[]; waits: number; waitMs: number; wait: number[];
  /** First attempts that waited for their replica to start (cold starts). */
  cold: number;
}

function parseStats(h: Record<string, string>): QueueStats {
  const n = (k: string) => Number(h[k] ?? 0);
  const buckets = (letter: string) => Array.from({ length: JOB_SECONDS_BUCKETS.length + 1 }, (_, i) => n(`${letter}${i}`));
  return {
    submitted: n('submitted'), completed: n('completed'), failed: n('failed'), cancelled: n('cancelled'), serviceMs: n('serviceMs'),
    duration: buckets('d'), waits: n('waits'), waitMs: n('waitMs'), wait: buckets('w'), cold: n('cold'),
  };
}
