/**
 * The controller's state in Redis: the lease, the replica registry, the records the faces read (overrides,
 * decisions, scale events), each pool's load and counters, and the wake channel submitters publish on. One
 * connection for commands, one for the subscription.
 *
 * Each pool's load comes from its kind's signal source (signals/index.ts: BullMQ's queues, a Celery broker), built on
 * the first pass that reads it, which only the lease holder makes. What a source knows beyond the load is written
 * here after each read, so that every face reads it from Redis as it reads Trireme's own: replicas that do not
 * heartbeat themselves (Celery workers) go into the replica registry, their task counters into the per-queue stats,
 * and another broker's depths into a short-lived record (`~broker-depths`).
 */
import type { Redis } from '../redis/connection.js';
import type { Clock } from '../core/clock.js';
import type { Config } from '../core/config.js';
import type { ControllerState, QueueLoad } from '../core/state.js';
import type { Counters } from '../core/rates.js';
import { POOL_KINDS } from '../core/pool-kind.js';
import { connect } from '../redis/connection.js';
import { within } from '../system/deadline.js';
import { silentLogger, type Logger } from '../system/log.js';
import { systemClock } from '../system/system-clock.js';
import { keys } from '../redis/keys.js';
import { Lease } from '../stores/lease.js';
import { ReplicaRegistry } from '../stores/registry.js';
import { ControlStore } from '../stores/control-store.js';
import { SOURCES, type PoolSource } from '../signals/index.js';
import { Keyspace } from '../redis/keyspace.js';

export interface RedisControllerState extends ControllerState {
  /** The command connection, for the few reads the controller's faces share (metrics, doctor). */
  readonly redis: Redis;
  readonly store: ControlStore;
}

export interface RedisStateOptions {
  prefix: string;
  /** Where queues are placed on a Redis Cluster (redis.hashTags). */
  hashTags?: Record<string, string>;
  holder: string;
  leaseTtlMs: number;
  eventsKept: number;
  /** The pools, for their kinds' sources; without them every pool read is BullMQ's (Trireme's own). */
  pools?: Config['pools'];
  /** The controller's interval: entries written for replicas that do not heartbeat live three intervals. */
  intervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Counters a source gathered while no pass read them (another controller led meanwhile, and counted them) are dropped. */
const STALE_TALLIES_MS = 10_000;

export function redisControllerState(redisUrl: string, opts: RedisStateOptions): RedisControllerState {
  const redis = connect(redisUrl, `trireme-controller-${opts.holder}`);
  const keyspace = new Keyspace(opts.prefix, redis.isCluster, opts.hashTags);
  let sub: Redis | undefined;
  const registry = new ReplicaRegistry(redis, opts.prefix);
  const outside = new ReplicaRegistry(redis, opts.prefix, Math.max(5_000, 3 * (opts.intervalMs ?? 2_000)));
  const store = new ControlStore(redis, opts.prefix, opts.eventsKept);
  const pools = opts.pools ?? {};
  const log = (opts.logger ?? silentLogger).child({ component: 'signals' });
  const kindOf = (pool: string) => (Object.hasOwn(pools, pool) ? pools[pool].kind : 'trireme');
  let sources: Map<string, PoolSource> | undefined;
  let lastRead = 0;
  /** Each kind's source, built on the first read (by the lease holder). */
  const sourceOf = (kind: string): PoolSource => {
    sources ??= new Map();
    let s = sources.get(kind);
    if (!s) {
      const mine = Object.entries(pools).filter(([, p]) => p.kind === kind).map(([name, config]) => ({ name, config }));
      s = SOURCES[kind]({ redis, prefix: opts.prefix, hashTags: opts.hashTags, pools: mine, clock: opts.clock ?? systemClock, logger: opts.logger ?? silentLogger });
      sources.set(kind, s);
    }
    return s;
  };

  /** What the sources know beyond the load, into Redis for the faces. */
  async function publish(now: number): Promise<void> {
    const stale = now - lastRead > STALE_TALLIES_MS;
    lastRead = now;
    for (const s of sources?.values() ?? []) {
      const writes: Promise<unknown>[] = [];
      writes.push(...(s.replicas?.() ?? []).map((info) => outside.beat(info)), ...(s.gone?.() ?? []).map((id) => outside.remove(id)));
      const tallies = s.tallies?.();
      if (tallies && !stale) writes.push(outside.tally(tallies));
      const depths = s.depths?.();
      if (depths?.length) writes.push(store.saveBrokerDepths(depths, now));
      await Promise.all(writes).catch((err: Error) => log.warn({ err: err.message }, 'could not write what the signal sources read'));
    }
  }

  return {
    redis,
    store,
    lease: new Lease(redis, opts.prefix, opts.holder, opts.leaseTtlMs),
    replicas: {
      async list() {
        const listed = await registry.list();
        // The pools whose source knows their replicas (Celery workers, from their events) take its figures, as fresh
        // as the load they are read with; the registry's copy is as old as the last pass.
        const own = [...sources ?? []].filter(([, s]) => s.replicas);
        if (own.length === 0) return listed;
        const kinds = new Set(own.map(([kind]) => kind));
        return [...listed.filter((r) => !kinds.has(kindOf(r.pool))), ...own.flatMap(([, s]) => s.replicas!())];
      },
      async quiesce(id) {
        for (const s of sources?.values() ?? []) if (await s.drain?.(id)) return;
      },
      async requestDrain(id, o) {
        // A replica of a source that drains its own way (a Celery worker: cancel_consumer); else through its heartbeat.
        for (const s of sources?.values() ?? []) if (await s.drain?.(id)) return;
        await registry.requestDrain(id, o);
      },
    },
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
      async load(refs, now) {
        const out = new Map<string, QueueLoad>();
        const kinds = new Map<string, typeof refs>();
        for (const p of refs) kinds.set(kindOf(p.name), [...(kinds.get(kindOf(p.name)) ?? []), p]);
        await Promise.all([...kinds].map(async ([kind, mine]) => {
          for (const [pool, l] of await sourceOf(kind).load(mine, now).catch(() => new Map<string, QueueLoad>())) out.set(pool, l);
        }));
        await publish(now);
        return out;
      },
      async counters(refs) {
        // A pool's counters are kept under its kind's labels: its queues, or a Celery pool's label.
        const labels = (p: { name: string; queues: string[] }) => (Object.hasOwn(pools, p.name) ? POOL_KINDS[pools[p.name].kind].statsLabels(pools[p.name]) : p.queues);
        const stats = await store.stats([...new Set(refs.flatMap(labels))]);
        return new Map<string, Counters>(refs.map((p) => {
          const c = { submitted: 0, completed: 0, failed: 0, serviceMs: 0 };
          for (const label of labels(p)) {
            const s = stats.get(label);
            if (s) { c.submitted += s.submitted; c.completed += s.completed; c.failed += s.failed; c.serviceMs += s.serviceMs; }
          }
          // Arrivals still waiting in another broker count as submitted (their workers have not received them yet).
          c.submitted += sources?.get(kindOf(p.name))?.pending?.(p.name) ?? 0;
          return [p.name, c];
        }));
      },
      async onWake(fn) {
        sub = connect(redisUrl, `trireme-controller-sub-${opts.holder}`);
        sub.on('message', (_channel, queue: string) => fn(queue));
        await sub.subscribe(keys.wake(keyspace.own));
      },
    },
    async close() {
      sub?.disconnect();
      await Promise.all([...sources?.values() ?? []].map((s) => within(s.close(), 2_000, undefined)));
      // Bounded: with Redis away, QUIT waits in the offline queue for as long as the outage lasts.
      await within(redis.quit(), 1_000, 'OK');
      redis.disconnect();
    },
  };
}
