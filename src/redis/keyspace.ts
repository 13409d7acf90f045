/**
 * Where a deployment's keys live. On one Redis (or a primary found through Sentinel) the names are as they always
 * were: Trireme's own keys `<prefix>:~…` (keys.ts), a queue's BullMQ keys `<prefix>:<queue>:…`. A Redis Cluster
 * refuses a command or script whose keys hash to different slots (CROSSSLOT), and BullMQ's scripts take several keys
 * of one queue at once, and Trireme's own transactions several of its own keys. So on a Cluster every key carries a
 * hash tag, the part in braces that alone decides its slot:
 *
 * - Trireme's own keys share one tag, the prefix: `{trireme}:~replicas`, `{trireme}:~stats:emails`, … — one slot, so
 *   the registry's heartbeat (replica hash, index, control key, per-queue counters), the lease script, the outbox
 *   script and every other transaction stay legal, whatever key a later change adds to keys.ts.
 * - Each queue gets a tag of its own, the prefix and its name: BullMQ's prefix `{trireme:emails}`, so its keys are
 *   `{trireme:emails}:emails:wait`, … (BullMQ's documented way: a prefix in braces). One queue's keys share a slot,
 *   and different queues spread over the shards. `redis.hashTags` gives queues a common tag, to place them together.
 *
 * A queue is never split across shards: BullMQ's scripts need all of its keys in one slot.
 */
import type { Redis } from './connection.js';

/** Own keys' prefix for the connection: the config's prefix, in braces on a Cluster (read by every user of keys.ts). */
export function ownPrefix(redis: Pick<Redis, 'isCluster'>, prefix: string): string {
  return redis.isCluster ? `{${prefix}}` : prefix;
}

export class Keyspace {
  /** Prefix of Trireme's own keys (keys.ts). */
  readonly own: string;

  constructor(readonly prefix: string, readonly cluster: boolean, private readonly hashTags: Record<string, string> = {}) {
    this.own = cluster ? `{${prefix}}` : prefix;
  }

  /** The keyspace of a connection: cluster or not as it is, the tags from the config. */
  static of(redis: Pick<Redis, 'isCluster'>, config: { prefix: string; redis?: { hashTags?: Record<string, string> } }): Keyspace {
    return new Keyspace(config.prefix, redis.isCluster, config.redis?.hashTags);
  }

  /** The hash tag that places `queue` on a Cluster (its own name unless redis.hashTags gives another). */
  tagOf(queue: string): string {
    return Object.hasOwn(this.hashTags, queue) ? this.hashTags[queue] : queue;
  }

  /** BullMQ's `prefix` option for `queue`. */
  queuePrefix(queue: string): string {
    return this.cluster ? `{${this.prefix}:${this.tagOf(queue)}}` : this.prefix;
  }

  /** One of BullMQ's keys of `queue` (`wait`, `active`, `events`, …), for reading it directly. */
  queueKey(queue: string, type: string): string {
    return `${this.queuePrefix(queue)}:${queue}:${type}`;
  }
}
