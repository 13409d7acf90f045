/**
 * What the faces show: pools with their replicas, depths and last decision, the autoscaling view, workers, scale
 * events. The API, the CLI and the dashboard all read through this one module, so they always agree. Everything here
 * reads Redis (what the controller and the replicas wrote), so it works from any host, leader or not.
 */
import type { Redis } from '../redis/connection.js';
import type { Project } from '../core/project.js';
import { ControlStore, type Override, type QueueStats, type RunnerStats, type ScaleEvent, type StoredDecision } from '../stores/control-store.js';
import { runnersOfPool } from '../core/runners.js';
import { ReplicaRegistry, StandbyRegistry, type ReplicaInfo, type ReplicaState, type StandbyInfo } from '../stores/registry.js';
import { oldestWait, queueDepths, type QueueDepth } from '../signals/bullmq.js';
import { Lease } from '../stores/lease.js';
import { JobSchedules, type ScheduleView } from '../jobs/schedules.js';
import { describeLimit, perSecond, type RateLimit } from '../core/rate-limit.js';
import { Keyspace } from '../redis/keyspace.js';
import { poolKind } from '../core/pool-kind.js';
import type { PoolConfig } from '../core/config.js';

export interface Depths {
  waiting: number; running: number; delayed: number; failed: number; completed: number;
  /** How long the longest-waiting job has been runnable, seconds (0 when none waits); null when the source cannot tell. */
  oldestWaitSeconds: number | null;
}

export interface PoolStatus {
  name: string;
  /** Whose replicas it runs (core/pool-kind.ts): `trireme`, or `celery` (Celery workers on their own broker). */
  kind: string;
  /** Where its jobs are listed, when not by Trireme (a Celery pool's tasks: Celery's own tools). */
  jobsElsewhere?: string;
  queues: string[];
  concurrency: number;
  isolation: string;
  priority: number;
  pricePerHour: number;
  resources: { cpu: number; memory: number; gpu: number };
  scaling: { min: number; max: number; policy: string; preset?: string; cooldownUp: number; cooldownDown: number; idleShutdown: number; targetBacklogPerSlot: number };
  /** `paused`: autoscaling off (a manual override holds the pool), with `pinned` replicas when set. */
  autoscaling: 'on' | 'paused';
  pinned?: number;
  replicas: Record<ReplicaState, number> & { current: number; desired: number | null };
  /** The bounds in force: the last decision's (schedules applied), else the config's. */
  bounds: { min: number; max: number };
  /** What is left of the last decision's cooldown at the time of the read, ms. */
  cooldownRemaining: number;
  depths: Depths & { byQueue: Record<string, Depths> };
  /** Busy job slots over all slots of live replicas, 0..1; 0 with no replica. */
  utilisation: number;
  /** What the live replicas cost per hour now. */
  costPerHour: number;
  rates: { in: number; out: number; serviceTime: number };
  /** Rate limits of its queues (jobs per window, across every replica), by queue; only limited queues appear. */
  rateLimits: Record<string, { jobs: number; perMs: number; perSecond: number; text: string }>;
  decision: StoredDecision | null;
}

export interface AutoscalingStatus {
  pool: string;
  queue: { pending: number; running: number; total: number };
  replicas: { current: number; desired: number | null; min: number; max: number };
  utilisationPercent: number;
  shouldScaleUp: boolean;
  shouldScaleDown: boolean;
  thresholds: { policy: string; targetBacklogPerSlot: number; concurrency: number; cooldownUp: number; cooldownDown: number; idleShutdown: number };
  cooldownRemaining: number;
  /** `scaling-up`, `scaling-down`, `stable`, `paused`, `idle` (at zero with nothing to do), or a driver health problem. */
  status: string;
  reason: string | null;
  lastDecisionAt: number | null;
}

export interface WorkersStatus {
  total: number;
  byState: Record<ReplicaState, number>;
  byPool: Record<string, { total: number } & Record<ReplicaState, number>>;
  replicas: ReplicaInfo[];
}

const noStates = (): Record<ReplicaState, number> => ({ starting: 0, idle: 0, busy: 0, draining: 0 });
const sumDepths = (ds: QueueDepth[], at: number): Depths => {
  const sum = ds.reduce((a, d) => ({
    waiting: a.waiting + d.waiting + d.prioritized, running: a.running + d.active, delayed: a.delayed + d.delayed,
    failed: a.failed + d.failed, completed: a.completed + d.completed,
  }), { waiting: 0, running: 0, delayed: 0, failed: 0, completed: 0 });
  const oldest = oldestWait(ds, at);
  return { ...sum, oldestWaitSeconds: oldest === undefined ? null : oldest / 1000 };
};

export class Inspector {
  readonly store: ControlStore;
  readonly registry: ReplicaRegistry;

  private jobSchedules?: JobSchedules;

  constructor(readonly project: Project, readonly redis: Redis) {
    this.store = new ControlStore(redis, project.config.prefix, project.config.controller.eventsKept);
    this.registry = new ReplicaRegistry(redis, project.config.prefix);
  }

  /** The config's job schedules with their next and last runs. */
  schedules(): Promise<ScheduleView[]> {
    this.jobSchedules ??= new JobSchedules(this.project, this.redis);
    return this.jobSchedules.list();
  }

  get poolNames(): string[] { return Object.keys(this.project.config.pools); }

  /** Every pool's status; `snapshot` lets a caller reuse one read of Redis for several views. */
  async pools(snap?: Snapshot): Promise<PoolStatus[]> {
    const s = snap ?? await this.snapshot();
    return Object.entries(this.project.config.pools).map(([name, pool]) => {
      const mine = s.replicas.filter((r) => r.pool === name);
      const states = noStates();
      for (const r of mine) states[r.state]++;
      const live = states.starting + states.idle + states.busy;
      const slots = mine.filter((r) => r.state !== 'starting' && r.state !== 'draining').reduce((n, r) => n + r.concurrency, 0);
      const busySlots = mine.reduce((n, r) => n + (r.state === 'draining' ? 0 : r.running), 0);
      // Its queues, and for a pool of another broker the label its workers' figures are recorded under.
      const labels = statsLabels(pool);
      const depths = s.depths.filter((d) => pool.queues.includes(d.queue) || labels.includes(d.queue));
      const kind = poolKind(pool);
      // Another broker keeps no finished tasks for Trireme to count: its workers' counters say how many.
      const finished = kind.ownQueues ? {} : labels.reduce((n, l) => ({ completed: n.completed + (s.stats.get(l)?.completed ?? 0), failed: n.failed + (s.stats.get(l)?.failed ?? 0) }), { completed: 0, failed: 0 });
      const scaling = pool.scaling;
      const override = s.overrides[name];
      const decision = s.decisions[name] ?? null;
      return {
        name, kind: pool.kind, ...(kind.jobsElsewhere ? { jobsElsewhere: kind.jobsElsewhere } : {}),
        queues: pool.queues, concurrency: pool.concurrency, isolation: pool.isolation, priority: pool.priority,
        pricePerHour: pool.pricePerHour, resources: pool.resources,
        scaling: {
          min: pool.scaling.min, max: pool.scaling.max, policy: scaling.policy, preset: pool.scaling.preset,
          cooldownUp: scaling.cooldownUp, cooldownDown: scaling.cooldownDown, idleShutdown: scaling.idleShutdown,
          targetBacklogPerSlot: scaling.targetBacklogPerSlot,
        },
        autoscaling: override?.paused ? 'paused' : 'on',
        pinned: override?.paused ? override.replicas : undefined,
        replicas: { ...states, current: live, desired: decision?.desired ?? null },
        bounds: { min: decision?.min ?? pool.scaling.min, max: decision?.max ?? pool.scaling.max },
        // A decision's cooldown is as of when it was made; count down from there.
        cooldownRemaining: decision ? Math.max(0, decision.cooldownRemaining - (s.at - decision.at)) : 0,
        depths: { ...sumDepths(depths, s.at), ...finished, byQueue: Object.fromEntries(depths.map((d) => [d.queue, sumDepths([d], s.at)])) },
        utilisation: slots > 0 ? Math.min(1, busySlots / slots) : 0,
        costPerHour: live * pool.pricePerHour,
        rates: { in: decision?.arrivalRate ?? 0, out: decision?.completionRate ?? 0, serviceTime: decision?.serviceTime ?? 0 },
        rateLimits: limitsOf(pool.queues, this.project.config.rateLimits ?? {}),
        decision,
      };
    });
  }

  /** The seed's `/api/metrics/autoscaling`: per pool, what the queue asks for and what the autoscaler will do. */
  async autoscaling(snap?: Snapshot): Promise<AutoscalingStatus[]> {
    return (await this.pools(snap)).map((p) => {
      const d = p.decision;
      const desired = d?.desired ?? null;
      let status = 'stable';
      if (p.autoscaling === 'paused') status = 'paused';
      else if (d?.health) status = d.health.split(':')[0];
      else if (d?.starved) status = 'capacity-starved';
      else if (desired !== null && desired > p.replicas.current) status = 'scaling-up';
      else if (desired !== null && desired < p.replicas.current) status = 'scaling-down';
      else if (p.replicas.current === 0 && p.depths.waiting + p.depths.running === 0) status = 'idle';
      return {
        pool: p.name,
        queue: { pending: p.depths.waiting, running: p.depths.running, total: p.depths.waiting + p.depths.running },
        replicas: { current: p.replicas.current, desired, ...p.bounds },
        utilisationPercent: Math.round(p.utilisation * 1000) / 10,
        shouldScaleUp: desired !== null && desired > p.replicas.current,
        shouldScaleDown: desired !== null && desired < p.replicas.current,
        thresholds: {
          policy: p.scaling.policy, targetBacklogPerSlot: p.scaling.targetBacklogPerSlot, concurrency: p.concurrency,
          cooldownUp: p.scaling.cooldownUp, cooldownDown: p.scaling.cooldownDown, idleShutdown: p.scaling.idleShutdown,
        },
        cooldownRemaining: p.cooldownRemaining, status, reason: d?.reason ?? null, lastDecisionAt: d?.at ?? null,
      };
    });
  }

  async workers(pool?: string): Promise<WorkersStatus> {
    const replicas = await this.registry.list(pool);
    const byState = noStates();
    const byPool: WorkersStatus['byPool'] = {};
    for (const name of pool ? [pool] : this.poolNames) byPool[name] = { total: 0, ...noStates() };
    for (const r of replicas) {
      byState[r.state]++;
      const b = (byPool[r.pool] ??= { total: 0, ...noStates() });
      b.total++; b[r.state]++;
    }
    return { total: replicas.length, byState, byPool, replicas };
  }

  events(limit = 100): Promise<ScaleEvent[]> { return this.store.events(limit); }

  /**
   * What a submitter should hear about the pools its jobs went to: a pool whose autoscaling is paused does not grow
   * for them, and with no live replica nothing runs them until it is resumed. Undefined when there is nothing to say.
   */
  async submitWarning(pools: string[]): Promise<string | undefined> {
    const overrides = await this.store.overrides();
    const paused = [...new Set(pools)].filter((p) => overrides[p]?.paused);
    if (!paused.length) return undefined;
    const live = await this.registry.list();
    return paused.map((p) => {
      const n = live.filter((r) => r.pool === p && r.state !== 'draining').length;
      const pinned = overrides[p].replicas;
      return `pool "${p}" is paused${pinned !== undefined ? ` (pinned at ${pinned})` : ''} with ${n} live replica(s): ${n === 0 ? 'nothing runs the job' : 'it does not grow for the job'} until it is resumed (trireme resume ${p}, or POST /pools/${p}/resume)`;
    }).join('; ');
  }

  /** Standby processes kept ready to become replicas, with their memory. */
  standbys(): Promise<StandbyInfo[]> { return new StandbyRegistry(this.redis, this.project.config.prefix).list(); }

  /** The controller holding the lease, if any. */
  leader(): Promise<string | null> {
    return new Lease(this.redis, this.project.config.prefix, 'inspector', 1).currentHolder();
  }

  /** The (pool, runner) pairs the config makes: which pools keep which warm runners. */
  private runnerPairs?: { pool: string; runner: string }[];

  /** One read of everything the views need. */
  async snapshot(): Promise<Snapshot> {
    const cfg = this.project.config;
    const pools = Object.values(cfg.pools);
    const own = pools.filter((p) => poolKind(p).ownQueues).flatMap((p) => p.queues);
    // Another broker's depths (a Celery pool's), as the controller last read them: the faces do not read that broker.
    const recorded = pools.filter((p) => !poolKind(p).ownQueues).flatMap((p) => [...new Set([...p.queues, ...statsLabels(p)])]);
    this.runnerPairs ??= Object.keys(cfg.pools).flatMap((pool) => runnersOfPool(cfg, pool).map((runner) => ({ pool, runner })));
    const at = Date.now();
    const [replicas, depths, brokers, decisions, overrides, stats, runners, standbys] = await Promise.all([
      this.registry.list(), queueDepths(this.redis, Keyspace.of(this.redis, cfg), own, at, 0), this.store.brokerDepths(recorded, at),
      this.store.decisions(), this.store.overrides(), this.store.stats([...new Set(pools.flatMap(statsLabels))]), this.store.runnerStats(this.runnerPairs),
      // Standbys matter here only for the runners they keep loaded.
      this.runnerPairs.length ? this.standbys() : Promise.resolve([]),
    ]);
    return { at, replicas, depths: [...depths, ...brokers], decisions, overrides, stats, runners, standbys };
  }
}

/** The labels a pool's counters are kept under (its queues, or a Celery pool's label). */
export const statsLabels = (p: PoolConfig): string[] => poolKind(p).statsLabels(p);

export interface Snapshot {
  at: number;
  replicas: ReplicaInfo[];
  depths: QueueDepth[];
  decisions: Record<string, StoredDecision>;
  overrides: Record<string, Override>;
  stats: Map<string, QueueStats>;
  /** Each warm runner's start-ups and exits, per pool that routing sends its tasks to. */
  runners: RunnerStats[];
  /** Standbys, read when some pool keeps warm runners (a pool's own standby loads them while it waits); else empty. */
  standbys: StandbyInfo[];
}

function limitsOf(queues: string[], limits: Record<string, RateLimit>): PoolStatus['rateLimits'] {
  const out: PoolStatus['rateLimits'] = {};
  for (const q of queues) {
    const l = Object.hasOwn(limits, q) ? limits[q] : undefined;
    if (l) out[q] = { jobs: l.jobs, perMs: l.per, perSecond: perSecond(l), text: describeLimit(l) };
  }
  return out;
}
