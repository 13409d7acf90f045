/**
 * The controller: a reconcile loop (every `controller.interval`) plus an immediate wake when a job is submitted to a
 * pool with no live replica. Each pass observes (queue depths and counters, the replicas each driver lists, the
 * replica directory, the overrides), hands that to core's planning pass (core/plan.ts, the one the simulator runs),
 * and carries out the actions it returns through each pool's driver: start, stop (drain first), or drain then set a
 * count. A running job is never stopped by autoscaling. Only the holder of the lease acts; others stand by.
 *
 * Its state (lease, replica directory, records, queue signals) and its drivers are passed in (core/state.ts,
 * drivers/driver.ts), so that this logic runs in unit tests with in-memory state on a manual clock.
 */
import type { Clock, Timer } from '../core/clock.js';
import type { Project } from '../core/project.js';
import { overrideDecision, type Decision } from '../core/autoscaler.js';
import { LearnedCarrier } from './learned.js';
import { NoticeTracker } from './notices.js';
import type { Notice } from '../core/notices.js';
import { limitsOf } from '../core/capacity.js';
import { Planner, type Action, type PassInput, type PlanReplica, type PoolPlan } from '../core/plan.js';
import type { ControllerState, ReplicaInfo, StoredDecision } from '../core/state.js';
import type { Driver, DriverReplica } from '../drivers/driver.js';
import { poolSpecs } from '../drivers/index.js';
import { silentLogger, type Logger } from '../system/log.js';
import { readMachine } from '../system/host.js';
import { within } from '../system/deadline.js';

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
  /** This host's capacity, for pools on the local driver; read from the machine (GPUs from nvidia-smi) when left out. */
  host?: { cpu: number; memory: number; gpu: number };
  /** Writes that failed (a scale event, the decisions): counted for /metrics, logged with the pool. */
  onDroppedWrite?: (what: 'event' | 'decisions' | 'learned', pool: string) => void;
  /** Called with every pass's input and its plans, before they are carried out (a recording for replay tests). */
  onPass?: (input: PassInput, plans: PoolPlan[]) => void;
  /** What runs beside the loop (housekeeping): started after the first pass, stopped after the drivers close. */
  alongside?: () => Promise<{ stop(): Promise<void> }>;
  /** Notices (scale events, max reached, start failures, drain timeouts, takeovers), for webhooks; must not block. */
  notify?: (n: Notice) => void;
}

/** A replica a driver lists, with what it says of itself in the replica directory. */
export type ListedReplica = DriverReplica & { info?: ReplicaInfo };

export class Controller {
  readonly id: string;
  /** The planning pass with each pool's memory: the autoscaler's, the rates, a scale-in waiting for its victims. */
  readonly planner: Planner;
  /** The last failure of each pool's driver to list, logged once until it changes. */
  private readonly listErrors = new Map<string, string>();
  /** Live replicas per pool once the last pass was carried out: the wake path decides without any I/O. */
  private readonly lastLive = new Map<string, number>();
  /** What the autoscaler learned, carried across leaders (learned.ts). */
  private readonly learned: LearnedCarrier;
  private readonly notices: NoticeTracker;
  private readonly log: Logger;
  private timer?: Timer;
  private companion?: { stop(): Promise<void> };
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  lastTickAt = 0;

  constructor(private readonly opts: ControllerOptions) {
    this.id = opts.id;
    this.log = (opts.logger ?? silentLogger).child({ controller: this.id });
    for (const pool of Object.keys(opts.project.config.pools)) {
      if (!opts.drivers[pool]) throw new Error(`no driver for pool "${pool}"`);
    }
    const host = opts.host ?? (({ cpu, memory, gpus }) => ({ cpu, memory, gpu: gpus.length }))(readMachine());
    // How each pool scales in and whether it shares this host: what its driver says of itself.
    const traits = (pool: string) => ({ scaleIn: opts.drivers[pool].scaleIn, onHost: opts.drivers[pool].placement === 'this-host' });
    this.planner = new Planner(poolSpecs(opts.project.config, traits), limitsOf(opts.project.config, host));
    this.learned = new LearnedCarrier(opts.state.records, this.planner, this.log, (pool) => opts.onDroppedWrite?.('learned', pool));
    this.notices = new NoticeTracker((n) => opts.notify?.(n), opts.state.records, this.id, this.log);
  }

  get isLeader(): boolean { return this.opts.state.lease.isHeld; }

  /** The driver of a pool. */
  driverOf(pool: string): Driver { return this.opts.drivers[pool]; }

  private get drivers(): Driver[] { return [...new Set(Object.values(this.opts.drivers))]; }

  async start(): Promise<void> {
    await this.opts.state.queues.onWake((queue) => this.onWake(queue));
    await this.tick();
    this.companion = await this.opts.alongside?.();
  }

  /** Stop now (a second Ctrl-C on serve): replicas hand their running jobs back at once. */
  hurry(): void {
    for (const d of this.drivers) d.hurry?.();
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

  /** A submitter's wake: act at once for a pool that had no live replica after the last pass, whatever its driver. */
  private onWake(queue: string): void {
    const pool = this.opts.project.router.poolFor(queue);
    if (!pool || this.stopped || !this.isLeader || (this.lastLive.get(pool) ?? 0) > 0) return;
    this.log.debug({ pool, queue }, 'wake: job submitted to a pool with no replica');
    // Counted as live from now, so that a burst of wakes makes one pass, not one each.
    this.lastLive.set(pool, 1);
    void this.tick([pool]);
  }

  /** One pass: observe, plan, act. `only`: a wake's pass, acting on these pools alone. */
  async reconcile(only?: string[]): Promise<void> {
    if (this.stopped) return;
    const leader = await this.opts.state.lease.acquire().catch(() => false);
    await this.learned.lead(leader);
    if (this.opts.notify) await this.notices.leading(leader, this.opts.clock.now());
    if (!leader) return;
    const now = this.opts.clock.now();
    this.lastTickAt = now;
    if (this.opts.notify && !only) await this.notices.fromReplicas();
    await Promise.all(this.drivers.map((d) => d.maintain?.()));
    const { input, listed } = await this.observe(now, only);
    const plans = this.planner.pass(input);
    this.opts.onPass?.(input, plans);

    const stored: StoredDecision[] = [];
    for (const plan of plans) {
      // A driver that fails (refused, unreachable) holds its own pool, said in the reason and its health; the others go on.
      const d = await this.act(plan, listed.get(plan.pool) ?? []).catch((err: Error) => {
        this.log.warn({ pool: plan.pool, err: err.message }, 'the driver could not carry the decision out');
        if (plan.action?.type === 'drain') this.planner.dropScaleIn(plan.pool);
        if (plan.action?.type === 'start') this.notices.started(plan.pool, plan.action.count, 0, now, { key: err.message, message: err.message });
        return overrideDecision(plan.pool, plan.decision, plan.decision.current, `${plan.decision.why}; not carried out: ${err.message}`);
      });
      // What is live once this pass is carried out (a scale-down to zero included): a submit after it wakes the pool.
      this.lastLive.set(plan.pool, d.desired);
      this.notices.decided(plan.pool, plan.decision, this.opts.clock.now());
      const health = this.opts.drivers[plan.pool].health(plan.pool);
      const { rates } = plan;
      stored.push({
        at: now, pool: plan.pool, desired: d.desired, current: d.current, direction: d.direction, reason: d.reason,
        cooldownRemaining: d.cooldownRemaining, min: d.min, max: d.max, leader: this.id,
        health: health.status === 'ok' ? undefined : `${health.status}: ${health.message}`, starved: plan.starved || undefined,
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

  /**
   * Reads every pool at once for a pass: one round of reads, so a wake's pass costs one round trip, not one per pool.
   * A part that cannot be read is left undefined, and the planning pass holds that pool.
   */
  async observe(now: number, only?: string[]): Promise<{ input: PassInput; listed: Map<string, ListedReplica[]> }> {
    const cfg = this.opts.project.config;
    const pools = Object.entries(cfg.pools);
    const { state } = this.opts;
    const [registered, counters, load, lists, overrides] = await Promise.all([
      state.replicas.list().catch(() => undefined),
      // Rates are measured on full passes only (see PassInput.only): a wake's pass does not read the counters.
      only ? undefined : state.queues.counters(pools.map(([name, p]) => ({ name, queues: p.queues }))).catch(() => undefined),
      state.queues.load(pools.map(([name, p]) => ({ name, queues: p.queues, horizonMs: p.scaling.startupTime })), now).catch(() => new Map()),
      Promise.all(pools.map(([name]) => this.opts.drivers[name].list(name).then((r) => { this.listErrors.delete(name); return r; }, (err: Error) => {
        if (this.listErrors.get(name) !== err.message) this.log.warn({ pool: name, err: err.message }, 'driver could not list replicas: holding the pool');
        this.listErrors.set(name, err.message);
        return undefined;
      }))),
      state.records.overrides().catch((err: Error) => { this.log.warn({ err: err.message }, 'overrides unreadable: holding every pool'); return undefined; }),
    ]);
    const byId = new Map((registered ?? []).map((r) => [r.id, r]));
    const listed = new Map<string, ListedReplica[]>();
    const observed = pools.map(([name], i) => {
      // A replica registers under its id, or as `<id>@<host>` (a Celery worker Trireme named: its node name).
      const own = lists[i]?.map((r): ListedReplica => ({
        ...r, info: byId.get(r.id) ?? (r.host ? byId.get(`${r.id}@${r.host}`) : undefined) ?? containerMatch(registered ?? [], r.container) ?? hostMatch(registered ?? [], name, r.host),
      }));
      listed.set(name, own ?? []);
      const matched = new Set((own ?? []).flatMap((r) => (r.info ? [r.info.id] : [])));
      const external = registered?.filter((r) => r.pool === name && !matched.has(r.id) && r.state !== 'draining').map((r) => r.state);
      return {
        pool: name, load: load.get(name), counters: counters?.get(name), external,
        replicas: own?.map((r): PlanReplica => ({ id: r.id, state: r.info?.state ?? 'starting', registered: !!r.info, stopping: r.phase === 'stopping', lastActivity: r.info?.lastActivity })),
      };
    });
    return { input: { now, pools: observed, overrides, only }, listed };
  }

  /** Carries a pool's plan out; returns its decision as it was carried out (fewer started, a count's note). */
  private async act(plan: PoolPlan, listed: ListedReplica[]): Promise<Decision> {
    const { action: a, decision: d } = plan;
    if (!a) return d;
    const driver = this.opts.drivers[plan.pool];
    if (a.type === 'start') {
      const started = await driver.start(plan.pool, a.count);
      // Fewer started than asked: a failure when the driver's health says why (a crash loop's backoff, an error).
      const h = started < a.count ? driver.health(plan.pool) : undefined;
      this.notices.started(plan.pool, a.count, started, this.opts.clock.now(), h && h.status !== 'ok' ? { key: h.status, message: `${h.status}${h.message ? `: ${h.message}` : ''}` } : undefined);
      if (started === 0) return d;
      const to = a.event.from + started;
      this.log.info({ pool: plan.pool, from: a.event.from, to, reason: d.reason }, 'scale up');
      await this.event(plan.pool, a, to, a.event.reason);
      return to === d.desired ? d : overrideDecision(plan.pool, d, to, `${d.why}, ${started} started`);
    }
    if (a.type === 'drain') {
      // The engine removes replicas itself: first make the victims stop taking jobs and wait to be removed.
      const byId = new Map(listed.map((r) => [r.id, r]));
      for (const id of a.replicas) await this.opts.state.replicas.requestDrain(byId.get(id)?.info?.id ?? id, { hold: true });
      this.log.info({ pool: plan.pool, victims: a.replicas }, 'scale down: draining the victims before lowering the count');
      return d;
    }
    if (a.type === 'stop') {
      if (driver.scaleIn !== 'stop-replicas') throw new Error(`the ${driver.name} driver cannot stop chosen replicas`);
      const byId = new Map(listed.map((r) => [r.id, r]));
      // Replicas their source can quiesce stop taking work first, together; a failure there still leaves the driver's drain.
      await Promise.all(a.replicas.map((id) => this.opts.state.replicas.quiesce?.(byId.get(id)?.info?.id ?? id).catch((err: Error) => {
        this.log.warn({ pool: plan.pool, replica: id, err: err.message }, 'could not quiesce the replica before stopping it');
      })));
      for (const id of a.replicas) await driver.stop(id, a.graceMs);
      this.log.info({ pool: plan.pool, from: a.event.from, to: a.event.to, victims: a.replicas, reason: a.event.reason }, 'scale down');
      await this.event(plan.pool, a, a.event.to, a.event.reason);
      return d;
    }
    if (driver.scaleIn !== 'set-count') throw new Error(`the ${driver.name} driver cannot set a count`);
    const byId = new Map(listed.map((r) => [r.id, r]));
    const pick = (ids: string[]) => ids.flatMap((id) => byId.get(id) ?? []);
    const { note } = await driver.setCount(plan.pool, a.count, { victims: pick(a.victims), busy: pick(a.busy), graceMs: a.graceMs });
    const reason = note ? `${a.event.reason} (${note})` : a.event.reason;
    this.log.info({ pool: plan.pool, from: a.event.from, to: a.count, victims: a.victims, reason }, 'scale down');
    await this.event(plan.pool, a, a.count, reason);
    return note ? overrideDecision(plan.pool, d, d.desired, `${d.why}; ${note}`) : d;
  }

  private async event(pool: string, a: Exclude<Action, { type: 'drain' }>, to: number, reason: string): Promise<void> {
    const { from, manual } = a.event;
    const at = this.opts.clock.now();
    this.notices.scaled({ at, pool, from, to, reason, policy: this.opts.project.config.pools[pool].scaling.policy, manual: !!manual });
    await this.opts.state.records.addEvent({ at, pool, from, to, reason, manual: manual || undefined }).catch((err: Error) => {
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
        this.planner.startedManually(pool, this.opts.clock.now());
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
      if (driver.scaleIn !== 'stop-replicas') continue;
      if ((await driver.list(pool).catch(() => [])).some((r) => r.id === id)) {
        await driver.stop(id, this.opts.project.config.pools[pool].drainGrace);
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
    // What the replicas recorded while draining goes out before housekeeping stops (its own bound applies).
    await within(this.companion?.stop() ?? Promise.resolve(), 10_000, undefined);
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
