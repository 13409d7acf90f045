/**
 * The controller's state in Redis: the lease, the replica registry, the records the faces read (overrides,
 * decisions, scale events), queue depths and arrival counters, and the wake channel submitters publish on. One
 * connection for commands, one for the subscription.
 */
import type { Redis } from '../redis/connection.js';
import type { ControllerState, QueueLoad } from '../core/state.js';
import type { Counters } from '../core/rates.js';
import { connect } from '../redis/connection.js';
import { within } from '../system/deadline.js';
import { keys } from '../redis/keys.js';
import { Keyspace } from '../redis/keyspace.js';
import { Lease } from '../stores/lease.js';
import { ReplicaRegistry } from '../stores/registry.js';
import { ControlStore } from '../stores/control-store.js';
import { oldestWait, queueDepths } from '../signals/bullmq.js';

export interface RedisControllerState extends ControllerState {
  /** The command connection, for the few reads the controller's faces share (metrics, doctor). */
  readonly redis: Redis;
  readonly store: ControlStore;
}

export function redisControllerState(redisUrl: string, opts: { prefix: string; hashTags?: Record<string, string>; holder: string; leaseTtlMs: number; eventsKept: number }): RedisControllerState {
  const redis = connect(redisUrl, `trireme-controller-${opts.holder}`);
  const keyspace = new Keyspace(opts.prefix, redis.isCluster, opts.hashTags);
  let sub: Redis | undefined;
  const registry = new ReplicaRegistry(redis, opts.prefix);
  const store = new ControlStore(redis, opts.prefix, opts.eventsKept);
  return {
    redis,
    store,
    lease: new Lease(redis, opts.prefix, opts.holder, opts.leaseTtlMs),
    replicas: { list: () => registry.list(), requestDrain: (id, o) => registry.requestDrain(id, o) },
    records: {
      overrides: () => store.overrides(),
      addEvent: (e) => store.addEvent(e),
      saveDecisions: (d) => store.saveDecisions(d),
      learned: () => store.learned(),
      saveLearned: (l) => store.saveLearned(l),
      swapLeader: (id) => store.swapLeader(id),
      takeNotices: () => store.takeNotices(),
    },
    queues: {
      async load(pools, now) {
        const out = new Map<string, QueueLoad>();
        await Promise.all(pools.map(async (p) => {
          try {
            const depths = await queueDepths(redis, keyspace, p.queues, now, p.horizonMs);
            const l: QueueLoad = { waiting: 0, running: 0, delayedDue: 0, oldestWait: oldestWait(depths, now) };
            for (const d of depths) { l.waiting += d.waiting + d.prioritized; l.running += d.active; l.delayedDue += d.delayedDue; }
            out.set(p.name, l);
          } catch { /* missing from the map: that pool's metrics are stale */ }
        }));
        return out;
      },
      async counters(queues) {
        const stats = await store.stats(queues);
        return new Map<string, Counters>([...stats].map(([q, s]) => [q, { submitted: s.submitted, completed: s.completed, failed: s.failed, serviceMs: s.serviceMs }]));
      },
      async onWake(fn) {
        sub = connect(redisUrl, `trireme-controller-sub-${opts.holder}`);
        sub.on('message', (_channel, queue: string) => fn(queue));
        await sub.subscribe(keys.wake(keyspace.own));
      },
    },
    async close() {
      sub?.disconnect();
      // Bounded: with Redis away, QUIT waits in the offline queue for as long as the outage lasts.
      await within(redis.quit(), 1_000, 'OK');
      redis.disconnect();
    },
  };
}
