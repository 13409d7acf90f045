/**
 * Queue depths for observations, one round trip for every queue of a pool. Waiting is BullMQ's wait list plus its
 * prioritized set: a priority job sits only in the latter, so counting the wait list alone undercounts (a common
 * KEDA mistake). Delayed jobs count only when they come due within a horizon (the pool's startup time), read from
 * the delayed set's score, which BullMQ encodes as timestamp x 0x1000 + counter.
 */
import type { Redis } from 'ioredis';
import type { QueueLoad } from '../core/records.js';
import type { PoolRef, PoolSource, SourceContext } from './source.js';

import type { QueueDepth } from '../core/records.js';

export type { QueueDepth } from '../core/records.js';

export async function queueDepths(redis: Redis, prefix: string, queues: string[], now: number, horizonMs: number): Promise<QueueDepth[]> {
  const p = redis.pipeline();
  for (const q of queues) {
    const k = (s: string) => `${prefix}:${q}:${s}`;
    p.llen(k('wait')).zcard(k('prioritized')).llen(k('active')).zcard(k('delayed'))
      .zcount(k('delayed'), 0, (now + horizonMs + 1) * 0x1000 - 1).zcard(k('failed')).zcard(k('completed'));
  }
  const res = await p.exec();
  if (!res) throw new Error('no reply from Redis');
  return queues.map((queue, i) => {
    const v = (j: number) => {
      const [err, n] = res[i * 7 + j];
      if (err) throw err;
      return Number(n);
    };
    return { queue, waiting: v(0), prioritized: v(1), active: v(2), delayed: v(3), delayedDue: v(4), failed: v(5), completed: v(6) };
  });
}

/**
 * The source of Trireme's own pools: each pool's load from its BullMQ queues (waiting with prioritized, active,
 * delayed jobs coming due within the pool's startup time). Replicas heartbeat into the registry themselves and
 * count their jobs into Redis, so this source reads depths and nothing else.
 */
export function bullmqSource(ctx: SourceContext): PoolSource {
  return {
    async load(pools: PoolRef[], now: number) {
      const out = new Map<string, QueueLoad>();
      await Promise.all(pools.map(async (p) => {
        try {
          const l = { waiting: 0, running: 0, delayedDue: 0 };
          for (const d of await queueDepths(ctx.redis, ctx.prefix, p.queues, now, p.horizonMs)) {
            l.waiting += d.waiting + d.prioritized; l.running += d.active; l.delayedDue += d.delayedDue;
          }
          out.set(p.name, l);
        } catch { /* missing from the map: that pool's metrics are stale */ }
      }));
      return out;
    },
    async close() {},
  };
}
