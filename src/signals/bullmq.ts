/**
 * Queue depths for observations, one round trip for every queue of a pool. Waiting is BullMQ's wait list plus its
 * prioritized set: a priority job sits only in the latter, so counting the wait list alone undercounts (a common
 * KEDA mistake). Delayed jobs count only when they come due within a horizon (the pool's startup time), read from
 * the delayed set's score, which BullMQ encodes as timestamp x 0x1000 + counter.
 */
import type { Redis } from 'ioredis';

export interface QueueDepth { queue: string; waiting: number; prioritized: number; active: number; delayed: number; delayedDue: number; failed: number; completed: number }

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
