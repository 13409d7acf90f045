/**
 * What the controller keeps in Redis for the faces (API, CLI, dashboard): scale events (a bounded list), the last
 * decision per pool, and manual overrides (paused autoscaling, a pinned replica count).
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

export interface ScaleEvent { at: number; pool: string; from: number; to: number; reason: string; manual?: boolean }
export interface Override { paused: boolean; replicas?: number; at: number }
export interface StoredDecision { at: number; pool: string; desired: number; current: number; reason: string; cooldownRemaining: number; min: number; max: number; leader: string; health?: string }

export class ControlStore {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly eventsKept = 500) {}

  async addEvent(e: ScaleEvent): Promise<void> {
    await this.redis.multi().lpush(keys.scaleEvents(this.prefix), JSON.stringify(e)).ltrim(keys.scaleEvents(this.prefix), 0, this.eventsKept - 1).exec();
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

  /** Pins a pool at `replicas` and pauses its autoscaling (`resume` gives it back to the autoscaler). */
  async setReplicas(pool: string, replicas: number): Promise<void> {
    await this.redis.hset(keys.overrides(this.prefix), pool, JSON.stringify({ paused: true, replicas, at: Date.now() } satisfies Override));
  }

  async pause(pool: string): Promise<void> {
    const cur = (await this.overrides())[pool];
    await this.redis.hset(keys.overrides(this.prefix), pool, JSON.stringify({ ...cur, paused: true, at: Date.now() }));
  }

  async resume(pool: string): Promise<void> {
    await this.redis.hdel(keys.overrides(this.prefix), pool);
  }

  async overrides(): Promise<Record<string, Override>> {
    const h = await this.redis.hgetall(keys.overrides(this.prefix));
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, JSON.parse(v)]));
  }

  /** Submitted-job counters per queue (arrivals), written by the client. */
  async stats(queues: string[]): Promise<Map<string, { submitted: number; completed: number; failed: number; serviceMs: number }>> {
    const p = this.redis.pipeline();
    for (const q of queues) p.hgetall(keys.stats(this.prefix, q));
    const res = (await p.exec()) ?? [];
    return new Map(queues.map((q, i) => {
      const h = (res[i]?.[1] ?? {}) as Record<string, string>;
      return [q, { submitted: Number(h.submitted ?? 0), completed: Number(h.completed ?? 0), failed: Number(h.failed ?? 0), serviceMs: Number(h.serviceMs ?? 0) }];
    }));
  }
}
