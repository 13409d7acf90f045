/**
 * The source of Celery pools: per broker (pools that share a broker URL share its connections), the depth of their
 * queues from the broker (celery-redis.ts, celery-amqp.ts) and their workers from Celery's events
 * (celery-workers.ts). Which pool an outside worker serves is asked the way Flower asks it: remote control's
 * `active_queues` (and `stats` for its concurrency), every 10 s and soon after an unknown worker appears; the workers
 * Trireme starts are known at once by their names (POOL-ID@HOST).
 *
 * A drain is Celery's own: `cancel_consumer` for each of the pool's queues, sent to that worker alone; it takes no more
 * tasks and finishes those it runs (the set-count drivers, Compose and Kubernetes, drain their victims so before
 * lowering the count; the local driver's SIGTERM is the worker's warm shutdown).
 */
import type { QueueLoad, QueueTally, ReplicaInfo } from '../core/records.js';
import { addTally } from '../core/records.js';
import { celeryStatsLabel, hidePassword } from '../core/celery.js';
import type { Logger } from '../system/log.js';
import type { QueueDepth } from './bullmq.js';
import type { CeleryBroker } from './celery-broker.js';
import { CeleryWorkers, type BrokerDepth, type CeleryPoolRef } from './celery-workers.js';
import type { PoolRef, PoolSource, SourceContext } from './source.js';

/** How often remote control is asked which queues each worker consumes, and at least how long between two asks. */
export const INSPECT_EVERY_MS = 10_000;
const INSPECT_SOON_MS = 2_000;
const INSPECT_TIMEOUT_MS = 1_000;

export type BrokerFactory = (url: string) => CeleryBroker;

interface Broker {
  url: string;
  client: CeleryBroker;
  workers: CeleryWorkers;
  pools: CeleryPoolRef[];
  started?: Promise<void>;
  depths: Map<string, BrokerDepth>;
  loads: Map<string, QueueLoad>;
  lastInspect: number;
  inspecting?: Promise<void>;
  /** The last read failed (said once each way). */
  down?: string;
}

export class CelerySource implements PoolSource {
  private readonly brokers: Broker[] = [];
  private readonly log: Logger;
  private left: string[] = [];

  constructor(private readonly ctx: SourceContext, factories: Record<string, BrokerFactory>, familyOf: (url: string) => string | undefined) {
    this.log = ctx.logger.child({ source: 'celery' });
    const byUrl = new Map<string, CeleryPoolRef[]>();
    for (const { name, config } of ctx.pools) {
      const url = config.celery!.broker;
      if (!byUrl.has(url)) byUrl.set(url, []);
      byUrl.get(url)!.push({ name, queues: config.queues, concurrency: config.concurrency });
    }
    for (const [url, pools] of byUrl) {
      const family = familyOf(url)!;
      this.brokers.push({ url, client: factories[family](url), workers: new CeleryWorkers(pools), pools, depths: new Map(), loads: new Map(), lastInspect: -Infinity });
    }
  }

  /** Subscribes to the broker's events once, on the first read. */
  private start(b: Broker): Promise<void> {
    b.started ??= b.client.subscribe((e) => b.workers.apply(e, this.ctx.clock.now())).catch((err: Error) => {
      b.started = undefined;
      throw err;
    });
    return b.started;
  }

  async load(pools: PoolRef[], now: number): Promise<Map<string, QueueLoad>> {
    const out = new Map<string, QueueLoad>();
    await Promise.all(this.brokers.map(async (b) => {
      const mine = pools.filter((p) => b.pools.some((x) => x.name === p.name));
      if (mine.length === 0) return;
      try {
        await this.start(b);
        b.depths = await b.client.depths(mine.flatMap((p) => p.queues));
        if (b.down) this.log.info({ broker: hidePassword(b.url) }, 'the Celery broker answers again');
        b.down = undefined;
      } catch (err) {
        const why = (err as Error).message;
        if (b.down !== why) this.log.warn({ broker: hidePassword(b.url), err: why }, 'cannot read the Celery broker: holding its pools');
        b.down = why;
        return;
      }
      this.left.push(...b.workers.expire(now));
      const orphans = b.workers.takeOrphans();
      if (orphans.length && b.client.handBack) {
        const n = await b.client.handBack(orphans).catch((err: Error) => { this.log.warn({ err: err.message }, 'could not hand back the tasks of a dead worker'); return 0; });
        if (n > 0) this.log.warn({ broker: hidePassword(b.url), tasks: n }, 'a worker died holding tasks it had not acknowledged: they go back to their queue');
      }
      if (now - b.lastInspect >= INSPECT_EVERY_MS || (b.workers.unsorted().length > 0 && now - b.lastInspect >= INSPECT_SOON_MS)) this.inspect(b, now);
      for (const p of mine) {
        const load = b.workers.load(p.name, b.depths, now, p.horizonMs);
        b.loads.set(p.name, load);
        out.set(p.name, load);
      }
    }));
    return out;
  }

  /** Asks every worker which queues it consumes and how many tasks it runs at once; in the background. */
  private inspect(b: Broker, now: number): void {
    if (b.inspecting) return;
    b.lastInspect = now;
    b.inspecting = (async () => {
      const queues = await b.client.control('active_queues', {}, { timeoutMs: INSPECT_TIMEOUT_MS });
      b.workers.setQueues(new Map([...queues].map(([node, qs]) => [node, Array.isArray(qs) ? qs.map((q: { name?: string }) => String(q?.name)) : []])));
      const stats = await b.client.control('stats', {}, { timeoutMs: INSPECT_TIMEOUT_MS });
      b.workers.setConcurrency(new Map([...stats].flatMap(([node, s]) => {
        const n = (s as { pool?: Record<string, unknown> })?.pool?.['max-concurrency'];
        return typeof n === 'number' ? [[node, n] as const] : [];
      })));
    })().catch((err: Error) => this.log.debug({ broker: hidePassword(b.url), err: err.message }, 'remote control did not answer')).finally(() => { b.inspecting = undefined; });
  }

  /** Tasks still in the broker's queues, not received by any worker (arrivals the counters have not seen). */
  pending(pool: string): number {
    const b = this.brokers.find((x) => x.pools.some((p) => p.name === pool));
    const queues = b?.pools.find((p) => p.name === pool)?.queues ?? [];
    return queues.reduce((n, q) => n + (b?.depths.get(q)?.ready ?? 0), 0);
  }

  /**
   * Depths for the faces: each queue's ready messages; what the pool's workers hold (reserved, running, coming due)
   * under its stats label (the queue itself for a pool of one queue), since events do not say which queue it came from.
   */
  depths(): QueueDepth[] {
    const out: QueueDepth[] = [];
    for (const b of this.brokers) {
      for (const p of b.pools) {
        const load = b.loads.get(p.name);
        if (!load) continue;
        const label = celeryStatsLabel(p.queues);
        const ready = (q: string) => b.depths.get(q)?.ready ?? 0;
        const held = load.waiting - p.queues.reduce((n, q) => n + ready(q), 0);
        const depth = (queue: string, waiting: number, active: number, due: number): QueueDepth => ({ queue, waiting, prioritized: 0, active, delayed: due, delayedDue: due, failed: 0, completed: 0 });
        if (p.queues.length === 1) out.push(depth(label, load.waiting, load.running, load.delayedDue));
        else out.push(...p.queues.map((q) => depth(q, ready(q), 0, 0)), depth(label, held, load.running, load.delayedDue));
      }
    }
    return out;
  }

  replicas(): ReplicaInfo[] {
    return this.brokers.flatMap((b) => b.workers.replicas());
  }

  gone(): string[] {
    const gone = this.left;
    this.left = [];
    return gone;
  }

  tallies(): Map<string, QueueTally> {
    const out = new Map<string, QueueTally>();
    for (const b of this.brokers) {
      for (const [label, t] of b.workers.takeTallies()) {
        const into = out.get(label);
        if (into) addTally(into, t); else out.set(label, t);
      }
    }
    return out;
  }

  /** Celery's drain: the worker stops consuming each of its pool's queues, and finishes what it runs. */
  async drain(id: string): Promise<boolean> {
    for (const b of this.brokers) {
      const worker = b.workers.replicas().find((r) => r.id === id);
      if (!worker) continue;
      const queues = b.pools.find((p) => p.name === worker.pool)?.queues ?? [];
      // Waited for, and then the broker's settling time: a message its last poll brings in after its answer is still
      // its own and its warm shutdown runs it; one that arrived as it shut down would be lost (kombu on Redis).
      for (const queue of queues) await b.client.control('cancel_consumer', { queue }, { destination: [id], timeoutMs: 2_000 });
      b.workers.markDraining(id);
      if (b.client.settleMs > 0) await new Promise<void>((done) => { this.ctx.clock.setTimeout(done, b.client.settleMs); });
      this.log.info({ pool: worker.pool, replica: id }, 'drain: the worker stops consuming its queues and finishes its tasks');
      return true;
    }
    return false;
  }

  async close(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.client.close().catch(() => {})));
  }
}
