/**
 * The controller: a reconcile loop (every `controller.interval`) plus an immediate wake when a job is submitted to a
 * pool with no live replica. Each pass reads observations from Redis, asks core's `decide` for every pool, splits the
 * host's capacity and the shared budget by priority, and tells the driver what to start and which idle replicas to
 * drain. A running job is never stopped by autoscaling. Only the holder of the Redis lease acts; others stand by.
 */
import { randomUUID } from 'node:crypto';
import { cpus, hostname, totalmem } from 'node:os';
import type { Redis } from 'ioredis';
import type { Clock, Timer } from '../core/clock.js';
import type { Project } from '../project.js';
import { resolveScaling } from '../core/config.js';
import { decide, emptyMemory, overrideDecision, type AutoscalerMemory, type Decision, type PoolSettings } from '../core/autoscaler.js';
import { allocate, type Limits } from '../core/capacity.js';
import { emptyReplicas, type Observation, type ReplicaCounts } from '../core/observation.js';
import { connect } from '../queue/connection.js';
import { keys } from '../queue/keys.js';
import { Lease } from '../queue/lease.js';
import { ReplicaRegistry, type ReplicaInfo } from '../queue/registry.js';
import { queueDepths } from '../queue/counts.js';
import { ControlStore, type StoredDecision } from '../queue/control-store.js';
import type { Driver, DriverReplica } from '../drivers/driver.js';
import { silentLogger, type Logger } from '../log.js';
import { RateTracker } from '../core/rates.js';
import { within } from '../queue/deadline.js';

export interface ControllerOptions {
  project: Project;
  redisUrl: string;
  driver: Driver;
  clock: Clock;
  logger?: Logger;
  id?: string;
  /** Called after each reconcile pass with how long it took, in seconds (for the loop-duration metric). */
  onReconcile?: (seconds: number) => void;
  /** Host capacity for the local driver; read from the machine when left out. */
  host?: { cpu: number; memory: number; gpu: number };
}

export interface PoolView {
  pool: string;
  observation: Observation;
  decision?: Decision;
  replicas: (DriverReplica & { info?: ReplicaInfo })[];
  external: ReplicaInfo[];
}

export class Controller {
  readonly id: string;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly lease: Lease;
  private readonly registry: ReplicaRegistry;
  readonly store: ControlStore;
  private readonly memory = new Map<string, AutoscalerMemory>();
  private readonly rates = new Map<string, RateTracker>();
  private readonly log: Logger;
  private timer?: Timer;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  lastTickAt = 0;

  constructor(private readonly opts: ControllerOptions) {
    const cfg = opts.project.config;
    this.id = opts.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
    this.redis = connect(opts.redisUrl, `trireme-controller-${this.id}`);
    this.sub = connect(opts.redisUrl, `trireme-controller-sub-${this.id}`);
    this.lease = new Lease(this.redis, cfg.prefix, this.id, cfg.controller.leaseTtl);
    this.registry = new ReplicaRegistry(this.redis, cfg.prefix);
    this.store = new ControlStore(this.redis, cfg.prefix, cfg.controller.eventsKept);
    this.log = (opts.logger ?? silentLogger).child({ controller: this.id });
    for (const pool of Object.keys(cfg.pools)) { this.memory.set(pool, emptyMemory()); this.rates.set(pool, new RateTracker()); }
  }

  get isLeader(): boolean { return this.lease.isHeld; }

  async start(): Promise<void> {
    await this.sub.subscribe(keys.wake(this.opts.project.config.prefix));
    this.sub.on('message', (_channel, queue: string) => this.onWake(queue));
    await this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.opts.clock.setTimeout(() => void this.tick(), this.opts.project.config.controller.interval);
  }

  /** One serialized reconcile pass over `pools` (all by default). */
  tick(pools?: string[]): Promise<void> {
    this.running = this.running.then(async () => {
      const began = performance.now();
      await this.reconcile(pools);
      this.opts.onReconcile?.((performance.now() - began) / 1000);
    }).catch((err) => {
      this.log.error({ err: (err as Error).message }, 'reconcile failed');
    });
    if (!pools) this.running = this.running.finally(() => this.schedule());
    return this.running;
  }

  private onWake(queue: string): void {
    const pool = this.opts.project.router.poolFor(queue);
    if (!pool || this.stopped || !this.lease.isHeld) return;
    const live = this.opts.driver.list(pool);
    if (Array.isArray(live) && live.some((r) => r.phase === 'running')) return;
    this.log.debug({ pool, queue }, 'wake: job submitted to a pool with no replica');
    void this.tick([pool]);
  }

  async reconcile(only?: string[]): Promise<void> {
    if (this.stopped) return;
    const leader = await this.lease.acquire().catch(() => false);
    if (!leader) return;
    const now = this.opts.clock.now();
    this.lastTickAt = now;
    const cfg = this.opts.project.config;
    const views = await this.observe(now);
    const overrides = await this.store.overrides().catch(() => ({} as Record<string, { paused: boolean; replicas?: number }>));

    const decisions = new Map<string, Decision>();
    for (const view of views) {
      const pool = cfg.pools[view.pool];
      const settings: PoolSettings = { ...resolveScaling(pool.scaling), concurrency: pool.concurrency };
      const d = decide(view.pool, view.observation, settings, this.memory.get(view.pool)!, now);
      const o = overrides[view.pool];
      if (o?.paused) {
        const pinned = o.replicas ?? d.current;
        decisions.set(view.pool, overrideDecision(view.pool, d, pinned, `autoscaling paused${o.replicas !== undefined ? `, pinned at ${o.replicas}` : ''}`));
      } else {
        decisions.set(view.pool, d);
      }
      this.memory.set(view.pool, d.memory);
    }

    // Share the host and the budget by priority; pinned pools get what they are pinned at when it fits.
    const grants = allocate(views.map((v) => {
      const pool = cfg.pools[v.pool];
      const d = decisions.get(v.pool)!;
      return { pool: v.pool, desired: d.desired, min: d.min, priority: pool.priority, resources: pool.resources };
    }), this.limits());

    const stored: StoredDecision[] = [];
    for (const view of views) {
      let d = decisions.get(view.pool)!;
      const g = grants.get(view.pool)!;
      // Replicas this controller cannot stop (started elsewhere) still count as capacity.
      const desired = Math.max(g.granted, view.external.length);
      if (desired !== d.desired) d = overrideDecision(view.pool, d, desired, `${d.why}, capped at ${desired} by ${g.limitedBy ?? 'capacity'}`);
      decisions.set(view.pool, d);
      if (!only || only.includes(view.pool)) await this.apply(view, d, overrides[view.pool]?.paused ?? false);
      const health = this.opts.driver.health(view.pool);
      const rates = this.rates.get(view.pool)!;
      stored.push({
        at: now, pool: view.pool, desired: d.desired, current: d.current, direction: d.direction, reason: d.reason,
        cooldownRemaining: d.cooldownRemaining, min: d.min, max: d.max, leader: this.id,
        health: health.status === 'ok' ? undefined : `${health.status}: ${health.message}`,
        arrivalRate: rates.arrivalRate, completionRate: rates.completionRate, serviceTime: rates.serviceTime,
      });
    }
    await this.store.saveDecisions(stored).catch(() => {});
  }

  private limits(): Limits[] {
    const cfg = this.opts.project.config;
    const host = this.opts.host ?? { cpu: cpus().length, memory: totalmem(), gpu: 0 };
    const over = cfg.capacity.overcommit;
    const limits: Limits[] = [{
      cpu: (cfg.capacity.cpu ?? host.cpu) * over,
      memory: (cfg.capacity.memory ?? host.memory) * over,
      gpu: cfg.capacity.gpu ?? host.gpu,
    }];
    if (cfg.budget.replicas !== undefined || cfg.budget.cpu !== undefined || cfg.budget.gpu !== undefined) limits.push({ ...cfg.budget });
    return limits;
  }

  /** Observations for every pool; a pool whose reads fail is marked stale (and so is never scaled down). */
  async observe(now: number): Promise<PoolView[]> {
    const cfg = this.opts.project.config;
    let registered: ReplicaInfo[] = [];
    let registryOk = true;
    try { registered = await this.registry.list(); } catch { registryOk = false; }
    const byId = new Map(registered.map((r) => [r.id, r]));
    const views: PoolView[] = [];
    const stats = await this.store.stats(Object.values(cfg.pools).flatMap((p) => p.queues)).catch(() => undefined);
    for (const [name, pool] of Object.entries(cfg.pools)) {
      const startup = pool.scaling.startupTime;
      let fresh = registryOk;
      let waiting = 0; let running = 0; let delayedDue = 0;
      try {
        for (const d of await queueDepths(this.redis, cfg.prefix, pool.queues, now, startup)) {
          waiting += d.waiting + d.prioritized; running += d.active; delayedDue += d.delayedDue;
        }
      } catch { fresh = false; }
      const rates = this.rates.get(name)!;
      if (stats) {
        const c = { submitted: 0, completed: 0, failed: 0, serviceMs: 0 };
        for (const q of pool.queues) { const s = stats.get(q)!; c.submitted += s.submitted; c.completed += s.completed; c.failed += s.failed; c.serviceMs += s.serviceMs; }
        rates.update(now, c);
      }
      const own = (await this.opts.driver.list(name)).map((r) => ({ ...r, info: byId.get(r.id) }));
      const ownIds = new Set(own.map((r) => r.id));
      const external = registered.filter((r) => r.pool === name && !ownIds.has(r.id) && r.state !== 'draining');
      const counts: ReplicaCounts = emptyReplicas();
      for (const r of own) {
        if (r.phase === 'stopping' || r.info?.state === 'draining') counts.draining++;
        else if (!r.info || r.info.state === 'starting') counts.starting++;
        else counts[r.info.state]++;
      }
      for (const r of external) counts[r.state]++;
      views.push({
        pool: name, replicas: own, external,
        observation: { waiting, running, delayedDue, arrivalRate: rates.arrivalRate, serviceTime: rates.serviceTime, replicas: counts, fresh },
      });
    }
    return views;
  }

  private async apply(view: PoolView, d: Decision, manual: boolean): Promise<void> {
    const pool = this.opts.project.config.pools[view.pool];
    if (d.direction === 'hold') return;
    if (d.direction === 'up') {
      const started = await this.opts.driver.start(view.pool, d.desired - d.current);
      if (started === 0) return;
      const to = d.current + started;
      this.log.info({ pool: view.pool, from: d.current, to, reason: d.reason }, 'scale up');
      await this.store.addEvent({ at: this.opts.clock.now(), pool: view.pool, from: d.current, to, reason: d.reason, manual: manual || undefined }).catch(() => {});
      return;
    }
    // Down: idle replicas first (longest idle first), then ones still starting; a busy replica only on a manual
    // override, and then it drains within its grace.
    const candidates = view.replicas.filter((r) => r.phase === 'running' && r.info?.state !== 'draining');
    const rank = (r: (typeof candidates)[number]) => (r.info?.state === 'idle' ? 0 : !r.info || r.info.state === 'starting' ? 1 : 2);
    const victims = candidates
      .filter((r) => manual || rank(r) < 2)
      .sort((a, b) => rank(a) - rank(b) || (a.info?.lastActivity ?? 0) - (b.info?.lastActivity ?? 0))
      .slice(0, d.current - d.desired);
    if (victims.length === 0) return;
    for (const v of victims) await this.opts.driver.stop(v.id, pool.drainGrace);
    const to = d.current - victims.length;
    this.log.info({ pool: view.pool, from: d.current, to, victims: victims.map((v) => v.id), reason: d.reason }, 'scale down');
    await this.store.addEvent({ at: this.opts.clock.now(), pool: view.pool, from: d.current, to, reason: d.reason, manual: manual || undefined }).catch(() => {});
  }

  /**
   * Starts replicas on request (API, dashboard). It counts as a scale-up and as activity, so the down-cooldown and
   * idle shutdown give the new replicas their time before the autoscaler may drain them again. Serialised with the
   * reconcile passes so neither overwrites the other's memory.
   */
  startManually(pool: string, count: number): Promise<number> {
    const done = this.running.then(async () => {
      const started = await this.opts.driver.start(pool, count);
      if (started > 0) {
        const now = this.opts.clock.now();
        this.memory.set(pool, { ...this.memory.get(pool)!, lastUpAt: now, lastBusyAt: now });
      }
      return started;
    });
    this.running = done.then(() => {}, () => {});
    return done;
  }

  async stop(graceMs = 30_000): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    // A pass in flight may be waiting on a Redis that is gone: wait for it only a little.
    await within(this.running, 2_000, undefined);
    await this.opts.driver.close(graceMs);
    await within(this.lease.release(), 2_000, undefined);
    this.sub.disconnect();
    await within(this.redis.quit(), 1_000, 'OK');
    this.redis.disconnect();
  }
}
