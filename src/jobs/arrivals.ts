/**
 * Arrival counting and the on-submit wake, at O(1) Redis work per batch, not per job: the first submit to a queue
 * after a quiet spell sends its `submitted` count and the wake at once (and the caller waits for them, so a pool at
 * zero is woken before the submit returns); the submits that follow within ANNOUNCE_MS are added up and sent together
 * once that time is over (one counter increment and one wake per queue), without holding anyone up. The controller
 * needs the wake only for a pool with no live replica, and reads rates over seconds.
 */
import type { Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';

/** How long arrivals on a queue are added up before they are sent (after the first, which goes at once). */
const ANNOUNCE_MS = 250;

export class Arrivals {
  private pending = new Map<string, number>();
  private readonly lastSent = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  private readonly prefix: string;

  constructor(private readonly redis: Redis, prefix: string) {
    this.prefix = ownPrefix(redis, prefix);
  }

  /** Counts `submitted` arrivals on `queue`; a promise only when they went out now (the first after a quiet spell). */
  announce(queue: string, submitted = 1): Promise<void> | undefined {
    this.pending.set(queue, (this.pending.get(queue) ?? 0) + submitted);
    const now = Date.now();
    if (now - (this.lastSent.get(queue) ?? -Infinity) >= ANNOUNCE_MS) {
      this.lastSent.set(queue, now);
      return this.flush([queue]);
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const queues = [...this.pending.keys()];
      for (const q of queues) this.lastSent.set(q, Date.now());
      // Counts only (the wake went with the first submit): a failure here loses arrival figures, never a job.
      this.flush(queues).catch(() => {});
    }, ANNOUNCE_MS);
    this.timer.unref?.();
    return undefined;
  }

  /** Sends what is still being added up (before the connection closes). */
  async close(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    await this.flush([...this.pending.keys()]).catch(() => {});
  }

  private async flush(queues: string[]): Promise<void> {
    const pipe = this.redis.pipeline();
    let any = false;
    for (const q of queues) {
      const n = this.pending.get(q);
      if (!n) continue;
      this.pending.delete(q);
      pipe.hincrby(keys.stats(this.prefix, q), 'submitted', n).publish(keys.wake(this.prefix), q);
      any = true;
    }
    if (any) await pipe.exec();
  }
}
