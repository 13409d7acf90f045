/**
 * The controller: a reconcile loop (every `controller.interval`) plus an immediate wake when a job is submitted to a
 * pool with no live replica. Each pass reads observations, asks core's `decide` for every pool, splits the host's
 * capacity and the shared budget by priority, and tells each pool's driver what to start and which idle replicas to
 * take away. A running job is never stopped by autoscaling. Only the holder of the lease acts; others stand by.
 *
 * Its state (lease, replica directory, records, queue signals) and its drivers are passed in (core/state.ts,
 * drivers/driver.ts), so that this logic runs in unit tests with in-memory state on a manual clock.
 */
import { availableParallelism, totalmem } from 'node:os';
import type { Clock, Timer } from '../core/clock.js';
import type { Project } from '../project.js';
import { resolveScaling } from '../core/config.js';
import { decide, emptyMemory, overrideDecision, type AutoscalerMemory, type Decision, type PoolSettings } from '../core/autoscaler.js';
import { LearnedCarrier } from './learned.js';
import { allocate, cappedWhy, limitsOf } from '../core/capacity.js';
import { emptyReplicas, type Observation, type ReplicaCounts } from '../core/observation.js';
import { RateTracker, type Counters } from '../core/rates.js';
import type { ControllerState, Override, ReplicaInfo, StoredDecision } from '../core/state.js';
import type { Driver, DriverReplica } from '../drivers/driver.js';
import { silentLogger, type Logger } from '../log.js';
import { within } from '../queue/deadline.js';

export interface ControllerOptions {
  project: Project;
  /** Where the lease, the replica directory, the records and the queue signals live (Redis in serve). */
  state: ControllerState;
  /** Each pool's driver; pools of one kind share one. */
  drivers: Record<string, Driver>;
  clock: Clock;
  logger?: Logger;
  /** This controller's name, as the lease and the decisions carry it. */
  id: string;
  /** Called after each reconcile pass with how long it took, in seconds (for the loop-duration metric). */
  onReconcile?: (seconds: number) => void;
  /** This host's capacity, for pools on the local driver; read from the machine once when left out. */
  host?: { cpu: number; memory: number; gpu: number };
  /** Writes that failed (a scale event, the decisions): counted for /metrics, logged with the pool. */
  onDroppedWrite?: (what: 'event' | 'decisions' | 'learned', pool: string) => void;
}

export interface PoolView {
  pool: string;
  observation: Observation;
  decision?: Decision;
  replicas: (DriverReplica & { info?: ReplicaInfo })[];
  /** Registered replicas of the pool that no driver of this controller lists (started by hand, or on a lost host). */
  external: ReplicaInfo[];
}

/** A `set-count` scale-in whose victims were asked to drain: the count it started from and the count to set. */
interface PendingScaleIn { victims: string[]; from: number; count: number; since: number; reason: string; manual: boolean }

/** How long a `set-count` scale-in waits for its victims to stop taking jobs before it lowers the count anyway. */
const DRAIN_WAIT_MS = 10_000;

export class Controller {
  readonly id: string;
  private readonly memory = new Map<string, AutoscalerMemory>();
  private readonly rates = new Map<string, RateTracker>();
  /** The last failure of each pool's driver to list, logged once until it changes. */
  private readonly listErrors = new Map<string, string>();
  /** Live replicas per pool at the last pass: the wake path decides without any I/O. */
  private readonly lastLive = new Map<string, number>();
  /** `set-count` scale-ins waiting for their victims to drain: pool -> victims and the count to set. */
  private readonly pendingScaleIn = new Map<string, PendingScaleIn>();
  /** What the autoscaler learned, carried across leaders (learned.ts). */
  private readonly learned: LearnedCarrier;
  private readonly host: { cpu: number; memory: number; gpu: number };
  private readonly log: Logger;
  private timer?: Timer;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  lastTickAt = 0;

  constructor(private readonly opts: ControllerOptions) {
    this.id = opts.id;
    this.log = (opts.logger ?? silentLogger).child({ controller: this.id });
    // Read once: a host short of file descriptors can report no CPUs at all, which must not shrink every pool.
    this.host = opts.host ?? { cpu: availableParallelism(), memory: totalmem(), gpu: 0 };
    for (const pool of Object.keys(opts.project.config.pools)) {
      this.memory.set(pool, emptyMemory());
      this.rates.set(pool, new RateTracker());
      if (!opts.drivers[pool]) throw new Error(`no driver for pool "${pool}"`);
    }
    this.learned = new LearnedCarrier(opts.state.records, this.memory, this.log, (pool) => opts.onDroppedWrite?.('learned', pool));
  }

  get isLeader(): boolean { return this.opts.state.lease.isHeld; }

  /** The driver of a pool. */
  driverOf(pool: string): Driver { return this.opts.drivers[pool]; }

  private get drivers(): Driver[] { return [...new Set(Object.values(this.opts.drivers))]; }

  async start(): Promise<void> {
    await this.opts.state.queues.onWake((queue) => this.onWake(queue));
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

  /** Resolves when the passes queued so far (a wake's included) are done. */
  settled(): Promise<void> { return this.running; }

  /** A submitter's wake: act at once for a pool that had no live replica at the last pass, whatever its driver. */
  private onWake(queue: string): void {
    const pool = this.opts.project.router.poolFor(queue);
    if (!pool || this.stopped || !this.isLeader || (this.lastLive.get(pool) ?? 0) > 0) return;
    this.log.debug({ pool, queue }, 'wake: job submitted to a pool with no replica');
    // Counted as live from now, so that a burst of wakes makes one pass, not one each.
    this.lastLive.set(pool, 1);
    void this.tick([pool]);
  }

  async reconcile(only?: string[]): Promise<void> {
    if (this.stopped) return;
    const leader = await this.opts.state.lease.acquire().catch(() => false);
    await this.learned.lead(leader);
    if (!leader) return;
    const now = this.opts.clock.now();
    this.lastTickAt = now;
    await Promise.all(this.drivers.map((d) => d.maintain?.()));
    const cfg = this.opts.project.config;
    const [views, overrides] = await Promise.all([
      // A wake's pass (`only`) reads every pool, to share capacity, but measures rates only on full passes: a
      // sample a few milliseconds after the last one would turn one job into a burst.
      this.observe(now, { rates: !only }),
      // Unreadable overrides hold every pool, as stale metrics do: a paused or pinned pool must not be autoscaled.
      this.opts.state.records.overrides().catch((err: Error) => { this.log.warn({ err: err.message }, 'overrides unreadable: holding every pool'); return undefined; }),
    ]);

    const acting = (pool: string) => !only || only.includes(pool);
    const decisions = new Map<string, Decision>();
    for (const view of views) {
      const pool = cfg.pools[view.pool];
      const settings: PoolSettings = { ...resolveScaling(pool.scaling), concurrency: pool.concurrency };
      const observation = overrides ? view.observation : { ...view.observation, fresh: false };
      const d = decide(view.pool, observation, settings, this.memory.get(view.pool)!, now);
      // Pools this pass does not act on keep their memory and hold, so that a wake never starts their cooldowns.
      if (!acting(view.pool)) { decisions.set(view.pool, overrideDecision(view.pool, d, d.current, 'not this pass')); continue; }
      this.memory.set(view.pool, d.memory);
      decisions.set(view.pool, overrides ? this.applyOverride(view.pool, d, overrides[view.pool]) : overrideDecision(view.pool, d, d.current, 'overrides unreadable: hold'));
    }

    // Share this host (pools on the local driver) and the budget (every pool) by priority.
    const grants = allocate(views.map((v) => {
      const pool = cfg.pools[v.pool];
      const d = decisions.get(v.pool)!;
      const scope = this.opts.drivers[v.pool].name === 'local' ? 'host' : undefined;
      return { pool: v.pool, desired: d.desired, need: d.need, min: d.min, priority: pool.priority, resources: pool.resources, scope };
    }), limitsOf(cfg, this.host));

    const stored: StoredDecision[] = [];
    for (const view of views) {
      if (!acting(view.pool)) continue;
      let d = decisions.get(view.pool)!;
      const g = grants.get(view.pool)!;
      // Replicas this controller cannot stop (started elsewhere) still count as capacity.
      const desired = Math.max(g.granted, view.external.length);
      // Starved: less than the load needs even after idle replicas elsewhere gave their room back.
      const starved = desired !== d.desired && g.starved === true;
      if (desired !== d.desired) {
        d = overrideDecision(view.pool, d, desired, cappedWhy(d.why, desired, g, starved), d.need);
      }
      // A driver that fails (refused, unreachable) holds its own pool, said in the reason and its health; the others go on.
      d = await this.apply(view, d, overrides?.[view.pool]?.paused ?? false).catch((err: Error) => {
        this.log.warn({ pool: view.pool, err: err.message }, 'the driver could not carry the decision out');
        return overrideDecision(view.pool, d, d.current, `${d.why}; not carried out: ${err.message}`);
      });
      decisions.set(view.pool, d);
      view.decision = d;
      this.lastLive.set(view.pool, d.current > 0 || d.desired > 0 ? Math.max(d.current, d.desired) : 0);
      const health = this.opts.drivers[view.pool].health(view.pool);
      const rates = this.rates.get(view.pool)!;
      stored.push({
        at: now, pool: view.pool, desired: d.desired, current: d.current, direction: d.direction, reason: d.reason,
        cooldownRemaining: d.cooldownRemaining, min: d.min, max: d.max, leader: this.id,
        health: health.status === 'ok' ? undefined : `${health.status}: ${health.message}`, starved: starved || undefined,
        flapsLastHour: d.flapsLastHour || undefined,
        arrivalRate: rates.arrivalRate, completionRate: rates.completionRate, serviceTime: rates.serviceTime,
      });
    }
    if (stored.length === 0) return;
    await this.learned.save(stored.map((x) => x.pool));
    await this.opts.state.records.saveDecisions(stored).catch((err: Error) => {
      this.log.warn({ err: err.message, pools: stored.map((x) => x.pool) }, 'decisions not saved');
      for (const x of stored) this.opts.onDroppedWrite?.('decisions', x.pool);
    });
  }

  /** A manual override: paused keeps the current count, a pin sets it; a pin above max is held at max and says so. */
  private applyOverride(pool: string, d: Decision, o: Override | undefined): Decision {
    if (!o?.paused) return d;
    if (o.replicas === undefined) return overrideDecision(pool, d, d.current, 'autoscaling paused');
    const max = this.opts.project.config.pools[pool].scaling.max;
    if (o.replicas > max) return overrideDecision(pool, d, max, `autoscaling paused, pinned at ${o.replicas} above max ${max}: held at ${max}`);
    return overrideDecision(pool, d, o.replicas, `autoscaling paused, pinned at ${o.replicas}`);
  }

  /** Observations for every pool; a pool whose reads fail is marked stale (and so is never scaled down). */
  async observe(now: number, opts: { rates?: boolean } = {}): Promise<PoolView[]> {
    const cfg = this.opts.project.config;
    const pools = Object.entries(cfg.pools);
    const { state } = this.opts;
    // One round of reads, all at once: a wake's pass costs one round trip, not one per pool.
    const [registered, counters, load, listed] = await Promise.all([
      state.replicas.list().catch(() => undefined),
      state.queues.counters(pools.flatMap(([, p]) => p.queues)).catch(() => undefined),
      state.queues.load(pools.map(([name, p]) => ({ name, queues: p.queues, horizonMs: p.scaling.startupTime })), now).catch(() => new Map()),
      Promise.all(pools.map(([name]) => this.opts.drivers[name].list(name).then((r) => { this.listErrors.delete(name); return r; }, (err: Error) => {
        if (this.listErrors.get(name) !== err.message) this.log.warn({ pool: name, err: err.message }, 'driver could not list replicas: holding the pool');
        this.listErrors.set(name, err.message);
        return undefined;
      }))),
    ]);
    const byId = new Map((registered ?? []).map((r) => [r.id, r]));
    return pools.map(([name, pool], i) => {
      const l = load.get(name);
      const own = (listed[i] ?? []).map((r) => ({ ...r, info: byId.get(r.id) ?? containerMatch(registered ?? [], r.container) ?? hostMatch(registered ?? [], name, r.host) }));
      const matched = new Set(own.flatMap((r) => (r.info ? [r.info.id] : [])));
      const external = (registered ?? []).filter((r) => r.pool === name && !matched.has(r.id) && r.state !== 'draining');
      const rates = this.rates.get(name)!;
      if (counters && opts.rates !== false) rates.update(now, sumCounters(pool.queues, counters));
      const counts: ReplicaCounts = emptyReplicas();
      for (const r of own) {
        if (r.phase === 'stopping' || r.info?.state === 'draining') counts.draining++;
        else if (!r.info || r.info.state === 'starting') counts.starting++;
        else counts[r.info.state]++;
      }
      for (const r of external) counts[r.state]++;
      const fresh = registered !== undefined && l !== undefined && listed[i] !== undefined;
      return {
        pool: name, replicas: own, external,
        observation: { waiting: l?.waiting ?? 0, running: l?.running ?? 0, delayedDue: l?.delayedDue ?? 0, arrivalRate: rates.arrivalRate, serviceTime: rates.serviceTime, replicas: counts, fresh },
      };
    });
  }

  /** Carries a decision out; returns it as it was carried out (fewer started, a scale-in still draining). */
  private async apply(view: PoolView, d: Decision, manual: boolean): Promise<Decision> {
    const driver = this.opts.drivers[view.pool];
    const pool = this.opts.project.config.pools[view.pool];
    const pending = this.pendingScaleIn.get(view.pool);
    if (pending) return this.continueScaleIn(view, d, pending);
    if (d.direction === 'hold') return d;
    if (d.direction === 'up') {
      const started = await driver.start(view.pool, d.desired - d.current);
      if (started === 0) return d;
      const to = d.current + started;
      this.log.info({ pool: view.pool, from: d.current, to, reason: d.reason }, 'scale up');
      await this.event(view.pool, d.current, to, d.reason, manual);
      return to === d.desired ? d : overrideDecision(view.pool, d, to, `${d.why}, ${started} started`);
    }
    // Down: idle replicas first (longest idle first), then ones still starting; a busy replica only on a manual
    // override, and then it drains within its grace.
    const candidates = view.replicas.filter((r) => r.phase === 'running' && r.info?.state !== 'draining');
    const rank = (r: (typeof candidates)[number]) => (r.info?.state === 'idle' ? 0 : !r.info || r.info.state === 'starting' ? 1 : 2);
    const victims = candidates
      .filter((r) => manual || rank(r) < 2)
      .sort((a, b) => rank(a) - rank(b) || (a.info?.lastActivity ?? 0) - (b.info?.lastActivity ?? 0))
      .slice(0, d.current - d.desired);
    if (victims.length === 0) return overrideDecision(view.pool, d, d.current, `${d.why}; every replica is busy: hold`);
    const to = d.current - victims.length;
    if (driver.capabilities.scaleDown === 'stop-replicas') {
      for (const v of victims) await driver.stop!(v.id, pool.drainGrace);
      this.log.info({ pool: view.pool, from: d.current, to, victims: victims.map((v) => v.id), reason: d.reason }, 'scale down');
      await this.event(view.pool, d.current, to, d.reason, manual);
      return d;
    }
    // The engine removes replicas itself: first make the victims stop taking jobs and wait to be removed.
    for (const v of victims) await this.opts.state.replicas.requestDrain(v.info?.id ?? v.id, { hold: true });
    this.pendingScaleIn.set(view.pool, { victims: victims.map((v) => v.id), from: d.current, count: to, since: this.opts.clock.now(), reason: d.reason, manual });
    this.log.info({ pool: view.pool, victims: victims.map((v) => v.id) }, 'scale down: draining the victims before lowering the count');
    return overrideDecision(view.pool, d, d.current, `${d.why}; draining ${victims.length} replica(s) before ${d.current} -> ${to}`);
  }

  /** A `set-count` scale-in whose victims were asked to drain: lower the count once they have stopped taking jobs. */
  private async continueScaleIn(view: PoolView, d: Decision, p: PendingScaleIn): Promise<Decision> {
    const driver = this.opts.drivers[view.pool];
    const byId = new Map(view.replicas.map((r) => [r.id, r]));
    const victims = p.victims.map((id) => byId.get(id)).filter((r): r is NonNullable<typeof r> => !!r);
    const drained = victims.every((v) => v.phase === 'stopping' || v.info?.state === 'draining' || !v.info);
    const waited = this.opts.clock.now() - p.since;
    if (!drained && waited < DRAIN_WAIT_MS) return overrideDecision(view.pool, d, d.current, `waiting for ${victims.length} replica(s) to drain before lowering the count to ${p.count}`);
    this.pendingScaleIn.delete(view.pool);
    const busy = view.replicas.filter((r) => r.info?.state === 'busy');
    const count = Math.max(p.count, 0);
    const { note } = await driver.setCount!(view.pool, count, { victims, busy, graceMs: this.opts.project.config.pools[view.pool].drainGrace });
    const reason = note ? `${p.reason} (${note})` : p.reason;
    this.log.info({ pool: view.pool, from: p.from, to: count, victims: p.victims, reason }, 'scale down');
    await this.event(view.pool, p.from, count, reason, p.manual);
    return overrideDecision(view.pool, d, count, note ? `${d.why}; ${note}` : d.why);
  }

  private async event(pool: string, from: number, to: number, reason: string, manual: boolean): Promise<void> {
    await this.opts.state.records.addEvent({ at: this.opts.clock.now(), pool, from, to, reason, manual: manual || undefined }).catch((err: Error) => {
      this.log.warn({ pool, err: err.message, from, to }, 'scale event not recorded');
      this.opts.onDroppedWrite?.('event', pool);
    });
  }

  /**
   * Starts replicas on request (API, dashboard). It counts as a scale-up and as activity, so the down-cooldown and
   * idle shutdown give the new replicas their time before the autoscaler may drain them again. Serialised with the
   * reconcile passes so neither overwrites the other's memory.
   */
  startManually(pool: string, count: number): Promise<number> {
    const done = this.running.then(async () => {
      const started = await this.opts.drivers[pool].start(pool, count);
      if (started > 0) {
        const now = this.opts.clock.now();
        this.memory.set(pool, { ...this.memory.get(pool)!, lastUpAt: now, lastBusyAt: now });
        this.lastLive.set(pool, (this.lastLive.get(pool) ?? 0) + started);
      }
      return started;
    });
    this.running = done.then(() => {}, () => {});
    return done;
  }

  /**
   * Drains one replica on request: through its driver when that driver can stop a chosen replica and lists it here,
   * otherwise through Redis (the replica drains and exits; its engine may start another, as for any exit).
   * Returns its pool, or undefined when no live replica has that id.
   */
  async stopReplica(id: string, registered: ReplicaInfo[]): Promise<string | undefined> {
    for (const [pool, driver] of Object.entries(this.opts.drivers)) {
      if (driver.capabilities.scaleDown !== 'stop-replicas') continue;
      if ((await driver.list(pool).catch(() => [])).some((r) => r.id === id)) {
        await driver.stop!(id, this.opts.project.config.pools[pool].drainGrace);
        return pool;
      }
    }
    const info = registered.find((r) => r.id === id);
    if (!info) return undefined;
    await this.opts.state.replicas.requestDrain(id);
    return info.pool;
  }

  async stop(graceMs = 30_000): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    // A pass in flight may be waiting on a Redis that is gone: wait for it only a little.
    await within(this.running, 2_000, undefined);
    await Promise.all(this.drivers.map((d) => d.close(graceMs)));
    await within(this.opts.state.lease.release(), 2_000, undefined);
    await this.opts.state.close();
  }
}

/** The registered replica in a container, by its id (a driver may know only the first 12 characters). */
function containerMatch(registered: ReplicaInfo[], container: string | undefined): ReplicaInfo | undefined {
  return container ? registered.find((r) => r.container?.startsWith(container)) : undefined;
}

/** The one registered replica of `pool` on `host`, for drivers whose replicas are known by host (pod, container). */
function hostMatch(registered: ReplicaInfo[], pool: string, host: string | undefined): ReplicaInfo | undefined {
  if (!host) return undefined;
  const on = registered.filter((r) => r.pool === pool && r.host === host);
  return on.length === 1 ? on[0] : undefined;
}

function sumCounters(queues: string[], counters: Map<string, Counters>): Counters {
  const c = { submitted: 0, completed: 0, failed: 0, serviceMs: 0 };
  for (const q of queues) {
    const s = counters.get(q);
    if (s) { c.submitted += s.submitted; c.completed += s.completed; c.failed += s.failed; c.serviceMs += s.serviceMs; }
  }
  return c;
}
