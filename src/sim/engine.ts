/**
 * The discrete-event simulator: the simulated world and nothing else. Arrivals come from a trace (with their
 * priorities and delays), each pool's queues take turns with BullMQ's order inside each (sim/queues.ts), replicas have
 * `concurrency` slots and serve after `startupTime` (or at once from a standby, for the local driver's pools that keep
 * one), the controller's loop runs every interval and a submit to a pool with no live replica wakes it (a Trireme
 * pool's: a Celery pool's client does not announce its tasks, so it waits for the next pass, as live). Every pass is
 * core's planning pass (core/plan.ts), the one `serve`'s controller runs, fed virtual observations; its actions are
 * applied to the simulated replicas. No scaling rule lives here.
 */
import type { Config } from '../core/config.js';
import type { Router } from '../core/routing.js';
import type { PoolSettings } from '../core/autoscaler.js';
import { limitsOf, type Resources } from '../core/capacity.js';
import { Planner, type Action, type DecideFn, type PassInput, type PlanReplica, type PoolPlan } from '../core/plan.js';
import { nearestRank } from '../core/histogram.js';
import { poolSpecs } from '../drivers/index.js';
import { poolKind } from '../core/pool-kind.js';
import { EventHeap } from './heap.js';
import { PoolQueues } from './queues.js';
import type { TraceJob } from './trace.js';

export interface SimPolicy {
  name: string;
  /** Reconcile interval, ms. */
  interval: number;
  /** A submit to a pool with no live replica decides at once (Trireme's wake); false: wait for the next poll. */
  wake: boolean;
  settings(pool: string): PoolSettings;
  /** Largest change one decision may make (the seeds' one-at-a-time step); unbounded when left out. */
  maxStep?: number;
  /**
   * The standby group a pool's replicas start from (Trireme's local driver: a pool's own when it has an environment
   * or GPUs, else the host's), or undefined when it keeps none. A ready standby serves `standbyStartMs` after a start
   * instead of `startupTime`, and is replaced, ready `startupTime` later.
   */
  standby?: (pool: string) => string | undefined;
  /** A baseline's own decision instead of core's `decide` (the seed autoscaler, which is not Trireme's). */
  decide?: DecideFn;
}

export interface PoolResult {
  jobs: number;
  waitP50: number; waitP95: number; waitP99: number; waitMax: number;
  replicaSeconds: number; idleReplicaSeconds: number; cost: number;
  scaleEvents: number; directionChanges: number; peakReplicas: number;
  /** Jobs that waited for a replica to start: the replica that ran them was not ready yet when they arrived. */
  coldStarts: number;
  /** Seconds the pool spent capacity-starved: held below what its load needs by host capacity or the budget. */
  starvedSeconds: number;
  /**
   * Flaps: scale-ups that came within startupTime plus the idle time before the last scale-down (the stopped replica
   * would have been ready sooner had it been kept), counted by the simulated world whatever the policy, so every
   * policy's churn is measured alike.
   */
  flaps: number;
  /** The same per hour of the run. */
  flapsPerHour: number;
}
export interface SeriesPoint { t: number; depth: number; replicas: number }
export interface SimResult {
  policy: string; overall: PoolResult; pools: Record<string, PoolResult>; series: Record<string, SeriesPoint[]>;
  events: { t: number; pool: string; from: number; to: number; reason: string }[];
  /** When the last event happened (ms). */
  endMs: number;
  /**
   * Recomputes replica-seconds, idle time and cost up to a later horizon, replicas still up counted until then, so
   * policies whose runs end at different times are compared over the same span.
   */
  accountTo(horizonMs: number): Pick<SimResult, 'overall' | 'pools'>;
}

interface Replica {
  id: string; startedAt: number; readyAt: number; running: number; stopped?: number; idleFrom: number; idleMs: number;
  /** Drained by a `set-count` scale-in: takes no job, waits for the count to be lowered. */
  draining?: boolean;
}
interface PoolState {
  name: string; concurrency: number; startup: number; price: number;
  waiting: PoolQueues;
  /** When the delayed jobs submitted to this pool become runnable, ms (their count within startupTime is `delayedDue`). */
  delayed: number[];
  replicas: Replica[]; seq: number;
  counters: { submitted: number; completed: number; failed: number; serviceMs: number };
  waits: number[]; events: number; changes: number; lastDir: 0 | 1 | -1; peak: number; wakePending: boolean; cold: number;
  /** A submit wakes it: Trireme's client announces what it submits; another kind's client (Celery's) does not. */
  wakes: boolean;
  starvedMs: number; starvedSince?: number; flaps: number;
  /** The last scale-down: when, and how long its longest-idle victim had been idle (a restart within startup plus that is a flap). */
  lastStop?: { at: number; idle: number };
}
type Ev = { k: 'arrive'; pool: PoolState; queue: string; service: number; priority: number; delay: number; index: number } | { k: 'due'; pool: PoolState; queue: string; service: number; priority: number; index: number } | { k: 'wake'; pool: PoolState } | { k: 'finish'; pool: PoolState; r: Replica; service: number } | { k: 'ready'; pool: PoolState } | { k: 'tick' };

export interface SimOptions {
  /** Sample queue depth and replicas this often (ms) for charts; no series when left out. */
  seriesStepMs?: number;
  /** Called with every pass's input and what the planning pass made of it (for replay tests). */
  onPass?: (input: PassInput, plans: PoolPlan[]) => void;
  /** How long after the last job the simulation may go on, for idle pools to shut down (ms). */
  tailMs?: number;
  /**
   * The host the local driver's pools share, as the controller reads it from the machine. The config's `capacity`
   * fields win, as live; a resource neither gives is not limited. The config's `budget` always applies.
   */
  host?: Partial<Resources>;
  /** Called as each job starts on a replica (for tests): its pool, its index in the (time-sorted) trace, the time. */
  onStart?: (pool: string, index: number, now: number) => void;
  /** How long a replica started from a ready standby takes to serve, ms (default 50; bench:startup measured 21 ms p50, 33 ms p95). */
  standbyStartMs?: number;
}

/** The planner a simulation of `policy` runs: the config's pools with the policy's settings, the host's limits. */
export function simPlanner(config: Config, policy: SimPolicy, host?: Partial<Resources>): Planner {
  return new Planner(poolSpecs(config, (pool) => ({ settings: policy.settings(pool), maxStep: policy.maxStep, decide: policy.decide })), limitsOf(config, host));
}

export function simulate(config: Config, router: Router, trace: TraceJob[], policy: SimPolicy, opts: SimOptions = {}): SimResult {
  const pools = new Map<string, PoolState>();
  for (const [name, p] of Object.entries(config.pools)) {
    pools.set(name, {
      name, concurrency: p.concurrency, startup: p.scaling.startupTime, price: p.pricePerHour,
      waiting: new PoolQueues(), delayed: [], replicas: [], seq: 0,
      counters: { submitted: 0, completed: 0, failed: 0, serviceMs: 0 }, waits: [], events: 0, changes: 0, lastDir: 0, peak: 0, wakePending: false, cold: 0, starvedMs: 0, flaps: 0,
      wakes: poolKind(p).ownQueues,
    });
  }
  const heap = new EventHeap<Ev>();
  for (const [index, job] of trace.entries()) {
    const queue = router.queueFor(job.task, job.queue);
    const pool = router.poolFor(queue);
    if (!pool) throw new Error(`task "${job.task}" routes to queue "${queue}", which no pool serves`);
    heap.push(job.t * 1000, { k: 'arrive', pool: pools.get(pool)!, queue, service: job.service * 1000, priority: job.priority ?? 0, delay: (job.delay ?? 0) * 1000, index });
  }
  const planner = simPlanner(config, policy, opts.host);
  const events: SimResult['events'] = [];
  const series: Record<string, SeriesPoint[]> = Object.fromEntries([...pools.keys()].map((n) => [n, []]));
  const step = opts.seriesStepMs ?? 0;
  let nextSample = 0;
  let now = 0;
  let pending = trace.length;
  let lastJobAt = 0;
  const tail = opts.tailMs ?? 24 * 3_600_000;

  const live = (p: PoolState) => p.replicas.filter((r) => r.stopped === undefined);
  const serving = (p: PoolState) => live(p).filter((r) => !r.draining);
  // Each standby group's next standby: ready from this time (a group absent from the map has one ready from the start).
  const standbyReadyAt = new Map<string, number>();
  const standbyStart = opts.standbyStartMs ?? 50;
  const addReplicas = (p: PoolState, n: number) => {
    const group = policy.standby?.(p.name);
    for (let i = 0; i < n; i++) {
      let ready = now + p.startup;
      if (group !== undefined && (standbyReadyAt.get(group) ?? 0) <= now) {
        ready = now + Math.min(standbyStart, p.startup);
        standbyReadyAt.set(group, now + p.startup);
      }
      const r: Replica = { id: `${p.name}-${++p.seq}`, startedAt: now, readyAt: ready, running: 0, idleFrom: ready, idleMs: 0 };
      p.replicas.push(r);
      heap.push(r.readyAt, { k: 'ready', pool: p });
    }
    p.peak = Math.max(p.peak, serving(p).length);
  };
  const stop = (r: Replica) => { r.stopped = now; if (r.running === 0 && now > r.idleFrom) r.idleMs += now - r.idleFrom; };

  /** What a live controller would read of a pool now: its queues, its counters and its replicas by state. */
  const observe = (p: PoolState): PassInput['pools'][number] => {
    let running = 0;
    const replicas: PlanReplica[] = live(p).map((r) => {
      running += r.running;
      // A replica registers once it is up; until then it is starting.
      const up = r.readyAt <= now;
      return { id: r.id, registered: up, lastActivity: up ? (r.running > 0 ? now : r.idleFrom) : undefined, state: r.draining ? 'draining' : !up ? 'starting' : r.running > 0 ? 'busy' : 'idle' };
    });
    // As live (signals/bullmq.ts): delayed jobs due within the pool's start-up time count as load.
    const delayedDue = p.delayed.reduce((n, due) => n + (due <= now + p.startup ? 1 : 0), 0);
    const oldest = p.waiting.oldestArrival();
    return { pool: p.name, load: { waiting: p.waiting.size, running, delayedDue, oldestWait: oldest === undefined ? 0 : now - oldest }, counters: { ...p.counters }, replicas, external: [] };
  };
  const act = (p: PoolState, a: Action) => {
    const byId = new Map(live(p).map((r) => [r.id, r]));
    if (a.type === 'start') {
      if (p.lastStop && now - p.lastStop.at < p.startup + p.lastStop.idle) p.flaps++;
      p.lastStop = undefined;
      addReplicas(p, a.count);
    } else if (a.type === 'stop' || a.type === 'set-count') {
      // Idle replicas drain at once: a stop is immediate, a drain leaves them waiting for the count to be lowered.
      let idle = 0;
      for (const id of a.type === 'stop' ? a.replicas : a.victims) {
        const r = byId.get(id);
        if (!r) continue;
        if (r.running === 0) idle = Math.max(idle, now - Math.max(r.idleFrom, r.readyAt));
        stop(r);
      }
      p.lastStop = { at: now, idle };
    } else for (const id of a.replicas) { const r = byId.get(id); if (r) r.draining = true; }
    if (a.type === 'drain') return;
    const dir = a.event.to > a.event.from ? 1 : -1;
    p.events++;
    if (p.lastDir !== 0 && p.lastDir !== dir) p.changes++;
    p.lastDir = dir;
    events.push({ t: now, pool: p.name, from: a.event.from, to: a.event.to, reason: a.event.reason });
  };
  /** One controller pass: every pool observed, the planning pass, its actions applied. `only`: a wake's pass. */
  const reconcile = (only?: PoolState) => {
    const input: PassInput = { now, pools: [...pools.values()].map(observe), overrides: {}, only: only && [only.name] };
    const plans = planner.pass(input);
    opts.onPass?.(input, plans);
    for (const plan of plans) {
      const p = pools.get(plan.pool)!;
      if (plan.starved && p.starvedSince === undefined) p.starvedSince = now;
      if (!plan.starved && p.starvedSince !== undefined) { p.starvedMs += now - p.starvedSince; p.starvedSince = undefined; }
      if (plan.action) act(p, plan.action);
    }
  };

  const dispatch = (p: PoolState) => {
    if (p.waiting.size === 0) return;
    for (const r of p.replicas) {
      if (r.stopped !== undefined || r.draining || r.readyAt > now) continue;
      while (r.running < p.concurrency && p.waiting.size > 0) {
        const job = p.waiting.shift()!;
        if (r.running === 0 && now > r.idleFrom) r.idleMs += now - r.idleFrom;
        r.running++;
        p.waits.push(now - job.arrival);
        opts.onStart?.(p.name, job.index, now);
        if (r.readyAt > job.arrival) p.cold++;
        heap.push(now + job.service, { k: 'finish', pool: p, r, service: job.service });
      }
      if (p.waiting.size === 0) break;
    }
  };

  heap.push(0, { k: 'tick' });
  for (let ev = heap.pop(); ev; ev = heap.pop()) {
    now = ev.t;
    if (step) {
      while (nextSample <= now) {
        for (const p of pools.values()) series[p.name].push({ t: nextSample / 1000, depth: p.waiting.size + live(p).reduce((n, r) => n + r.running, 0), replicas: serving(p).length });
        nextSample += step;
      }
    }
    const e = ev.value;
    if (e.k === 'tick') {
      reconcile();
      // Keep ticking while work remains, then while a pool is above its min (idle shutdown), up to the tail limit.
      if (pending > 0) lastJobAt = now;
      const aboveMin = [...pools.values()].some((p) => live(p).length > planner.specs[p.name].settings.min);
      if (pending > 0 || (aboveMin && now - lastJobAt < tail)) heap.push(now + policy.interval, { k: 'tick' });
    } else if (e.k === 'arrive' && e.delay > 0) {
      // Delayed: counted as submitted now, runnable (and waiting, for its wait figure) from its due time.
      e.pool.counters.submitted++;
      e.pool.delayed.push(now + e.delay);
      heap.push(now + e.delay, { k: 'due', pool: e.pool, queue: e.queue, service: e.service, priority: e.priority, index: e.index });
    } else if (e.k === 'arrive' || e.k === 'due') {
      const p = e.pool;
      if (e.k === 'due') p.delayed.splice(p.delayed.indexOf(now), 1);
      else p.counters.submitted++;
      p.waiting.push(e.queue, { arrival: now, service: e.service, index: e.index }, e.priority);
      // Decide after every arrival of this instant has been queued, as the live wake sees a whole burst.
      if (policy.wake && p.wakes && serving(p).length === 0 && !p.wakePending) { p.wakePending = true; heap.push(now, { k: 'wake', pool: p }); }
      dispatch(p);
    } else if (e.k === 'wake') {
      e.pool.wakePending = false;
      if (serving(e.pool).length === 0) reconcile(e.pool);
      dispatch(e.pool);
    } else if (e.k === 'ready') {
      dispatch(e.pool);
    } else {
      const { pool: p, r } = e;
      r.running--;
      pending--;
      p.counters.completed++;
      p.counters.serviceMs += e.service;
      if (r.running === 0) r.idleFrom = now;
      dispatch(p);
    }
  }
  // Samples are taken before each event; record the state the last event left, or a chart misses the final step.
  if (step) for (const p of pools.values()) series[p.name].push({ t: now / 1000, depth: p.waiting.size + live(p).reduce((n, r) => n + r.running, 0), replicas: serving(p).length });
  const account = (end: number) => {
    const result = (p: PoolState): PoolResult => {
      let replicaMs = 0; let idleMs = 0;
      for (const r of p.replicas) {
        const until = r.stopped ?? end;
        replicaMs += until - r.startedAt;
        idleMs += r.idleMs + (r.stopped === undefined && r.running === 0 && end > r.idleFrom ? end - r.idleFrom : 0);
      }
      return { ...summarise(p.waits, replicaMs, idleMs, p.price, p.events, p.changes, p.peak, p.cold), starvedSeconds: (p.starvedMs + (p.starvedSince === undefined ? 0 : end - p.starvedSince)) / 1000, flaps: p.flaps, flapsPerHour: end > 0 ? p.flaps / (end / 3_600_000) : 0 };
    };
    const poolResults = Object.fromEntries([...pools.values()].map((p) => [p.name, result(p)]));
    const overall = summarise([...pools.values()].flatMap((p) => p.waits), 0, 0, 0, 0, 0, 0);
    for (const r of Object.values(poolResults)) {
      overall.replicaSeconds += r.replicaSeconds; overall.idleReplicaSeconds += r.idleReplicaSeconds; overall.cost += r.cost;
      overall.scaleEvents += r.scaleEvents; overall.directionChanges += r.directionChanges; overall.peakReplicas += r.peakReplicas;
      overall.coldStarts += r.coldStarts; overall.starvedSeconds += r.starvedSeconds; overall.flaps += r.flaps; overall.flapsPerHour += r.flapsPerHour;
    }
    return { overall, pools: poolResults };
  };
  const endMs = now;
  return { policy: policy.name, ...account(endMs), series, events, endMs, accountTo: (h) => account(Math.max(h, endMs)) };
}

export function summarise(waitsMs: number[], replicaMs: number, idleMs: number, price: number, events: number, changes: number, peak: number, cold = 0): PoolResult {
  const w = Float64Array.from(waitsMs).sort();
  const pct = (q: number) => (w.length ? nearestRank(w, q) / 1000 : 0);
  return {
    jobs: w.length, waitP50: pct(0.5), waitP95: pct(0.95), waitP99: pct(0.99), waitMax: w.length ? w[w.length - 1] / 1000 : 0,
    replicaSeconds: replicaMs / 1000, idleReplicaSeconds: idleMs / 1000, cost: (replicaMs / 3_600_000) * price,
    scaleEvents: events, directionChanges: changes, peakReplicas: peak, coldStarts: cold, starvedSeconds: 0, flaps: 0, flapsPerHour: 0,
  };
}
