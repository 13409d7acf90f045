/**
 * Queue depths for observations, one round trip for every queue of a pool. Waiting is BullMQ's wait list plus its
 * prioritized set: a priority job sits only in the latter, so counting the wait list alone undercounts (a common
 * KEDA mistake). Delayed jobs count only when they come due within a horizon (the pool's startup time), read from
 * the delayed set's score, which BullMQ encodes as timestamp x 0x1000 + counter. On a Redis Cluster the queues of a
 * pool may live on different shards, and one pipeline may only address one: the reads go one pipeline per hash tag,
 * all at once.
 */
import type { Redis } from '../redis/connection.js';
import type { Keyspace } from '../redis/keyspace.js';

export interface QueueDepth { queue: string; waiting: number; prioritized: number; active: number; delayed: number; delayedDue: number; failed: number; completed: number }

export async function queueDepths(redis: Redis, keyspace: Keyspace, queues: string[], now: number, horizonMs: number): Promise<QueueDepth[]> {
  const groups = new Map<string, string[]>();
  for (const q of queues) {
    const slot = keyspace.cluster ? keyspace.queuePrefix(q) : '';
    const g = groups.get(slot);
    if (g) g.push(q); else groups.set(slot, [q]);
  }
  const depths = new Map<string, QueueDepth>();
  await Promise.all([...groups.values()].map(async (group) => {
    const p = redis.pipeline();
    for (const q of group) {
      const k = (s: string) => keyspace.queueKey(q, s);
      p.llen(k('wait')).zcard(k('prioritized')).llen(k('active')).zcard(k('delayed'))
        .zcount(k('delayed'), 0, (now + horizonMs + 1) * 0x1000 - 1).zcard(k('failed')).zcard(k('completed'));
    }
    const res = await p.exec();
    if (!res) throw new Error('no reply from Redis');
    group.forEach((queue, i) => {
      const v = (j: number) => {
        const [err, n] = res[i * 7 + j];
        if (err) throw err;
        return Number(n);
      };
      depths.set(queue, { queue, waiting: v(0), prioritized: v(1), active: v(2), delayed: v(3), delayedDue: v(4), failed: v(5), completed: v(6) });
    });
  }));
  return queues.map((q) => depths.get(q)!);
}
