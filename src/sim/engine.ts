/**
 * The discrete-event simulator: arrivals from a trace (with their priorities and delays), each pool's queues taking
 * turns with BullMQ's order inside each (sim/queues.ts), replicas with `concurrency` slots that serve after
 * `startupTime` (or at once from a standby, for the local driver's pools that keep one), the controller's loop
 * interval and on-submit wake, drain on scale-down (only idle replicas are stopped, as live). The autoscaler is
 * core's `decide` on a virtual clock, and host capacity and the budget are shared by core's `allocate` as the
 * controller shares them: there is no copy of policy logic here.
 */
import type { Config } from '../core/config.js';
import type { Router } from '../core/routing.js';
import { decide, emptyMemory, overrideDecision, type AutoscalerMemory, type Decision, type PoolSettings } from '../core/autoscaler.js';
import { allocate, cappedWhy, limitsOf, type Resources } from '../core/capacity.js';
import { emptyReplicas, type Observation } from '../core/observation.js';
import { RateTracker } from '../core/rates.js';
import { nearestRank } from '../core/histogram.js';
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
  /** A fixed replica count instead of autoscaling. */
  fixed?: (pool: string) => number;
  /**
   * The standby group a pool's replicas start from (Trireme's local driver: a pool's own when it has an environment
   * or GPUs, else the host's), or undefined when it keeps none. A ready standby serves `standbyStartMs` after a start
   * instead of `startupTime`, and is replaced, ready `startupTime` later.
   */
  standby?: (pool: string) => string | undefined;
  /** A baseline's own decision instead of core's `decide` (the seed autoscaler, which is not Trireme's). */
  decide?: (pool: string, o: Observation, memory: AutoscalerMemory, now: number) => Decision;
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
  /** Flaps the autoscaler counted (a scale-up within startupTime plus the idle before the last scale-down), per hour of the run. */
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

interface Replica { startedAt: number; readyAt: number; running: number; stopped?: number; idleFrom: number; idleMs: number }
interface PoolState {
  name: string; concurrency: number; startup: number; price: number;
  waiting: PoolQueues;
  /** When the delayed jobs submitted to this pool become runnable, ms (their count within startupTime is `delayedDue`). */
  delayed: number[];
  replicas: Replica[]; memory: AutoscalerMemory; rates: RateTracker;
  counters: { submitted: number; completed: number; failed: number; serviceMs: number };
  waits: number[]; events: number; changes: number; lastDir: 0 | 1 | -1; peak: number; wakePending: boolean; cold: number;
  starvedMs: number; starvedSince?: number; flaps: number;
}
type Ev = { k: 'arrive'; pool: PoolState; queue: string; service: number; priority: number; delay: number; index: number } | { k: 'due'; pool: PoolState; queue: string; service: number; priority: number; index: number } | { k: 'wake'; pool: PoolState } | { k: 'finish'; pool: PoolState; r: Replica; service: number } | { k: 'ready'; pool: PoolState } | { k: 'tick' };

export interface SimOptions {
  /** Sample queue depth and replicas this often (ms) for charts; no series when left out. */
  seriesStepMs?: number;
  /** Called with every observation handed to `decide` and what it returned (for replay tests). */
  onDecision?: (pool: string, observation: Observation, now: number, decision: ReturnType<typeof decide>) => void;
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

export function simulate(config: Config, router: Router, trace: TraceJob[], policy: SimPolicy, opts: SimOptions = {}): SimResult {
  const pools = new Map<string, PoolState>();
  for (const [name, p] of Object.entries(config.pools)) {
    pools.set(name, {
      name, concurrency: p.concurrency, startup: p.scaling.startupTime, price: p.pricePerHour,
      waiting: new PoolQueues(), delayed: [], replicas: [], memory: emptyMemory(), rates: new RateTracker(),
      counters: { submitted: 0, completed: 0, failed: 0, serviceMs: 0 }, waits: [], events: 0, changes: 0, lastDir: 0, peak: 0, wakePending: false, cold: 0, starvedMs: 0, flaps: 0,
    });
  }
  const heap = new EventHeap<Ev>();
  for (const [index, job] of trace.entries()) {
    const queue = router.queueFor(job.task, job.queue);
    const pool = router.poolFor(queue);
    if (!pool) throw new Error(`task "${job.task}" routes to queue "${queue}", which no pool serves`);
    heap.push(job.t * 1000, { k: 'arrive', pool: pools.get(pool)!, queue, service: job.service * 1000, priority: job.priority ?? 0, delay: (job.delay ?? 0) * 1000, index });
  }
  const events: SimResult['events'] = [];
  const series: Record<string, SeriesPoint[]> = Object.fromEntries([...pools.keys()].map((n) => [n, []]));
  const step = opts.seriesStepMs ?? 0;
  let nextSample = 0;
  let now = 0;
  let pending = trace.length;
  let lastJobAt = 0;
  const tail = opts.tailMs ?? 24 * 3_600_000;

  const live = (p: PoolState) => p.replicas.filter((r) => r.stopped === undefined);
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
      const r: Replica = { startedAt: now, readyAt: ready, running: 0, idleFrom: ready, idleMs: 0 };
      p.replicas.push(r);
      heap.push(r.readyAt, { k: 'ready', pool: p });
    }
    p.peak = Math.max(p.peak, live(p).length);
  };
  const stop = (r: Replica) => { r.stopped = now; if (r.running === 0 && now > r.idleFrom) r.idleMs += now - r.idleFrom; };

  const limits = limitsOf(config, opts.host);
  /** What `decide` says for one pool now; pools a wake's pass does not act on hold, their memory untouched. */
  const decideFor = (p: PoolState, acting: boolean): Decision => {
    const rs = live(p);
    const replicas = emptyReplicas();
    let running = 0;
    for (const r of rs) {
      running += r.running;
      if (r.readyAt > now) replicas.starting++; else if (r.running > 0) replicas.busy++; else replicas.idle++;
    }
    if (acting) p.rates.update(now, p.counters);
    // As live (queue/counts.ts): delayed jobs due within the pool's start-up time count as load.
    const delayedDue = p.delayed.reduce((n, due) => n + (due <= now + p.startup ? 1 : 0), 0);
    const o: Observation = { waiting: p.waiting.size, running, delayedDue, arrivalRate: p.rates.arrivalRate, serviceTime: p.rates.serviceTime, replicas, fresh: true };
    const d = policy.decide ? policy.decide(p.name, o, p.memory, now) : decide(p.name, o, policy.settings(p.name), p.memory, now);
    if (!acting) return overrideDecision(p.name, d, d.current, 'not this pass');
    opts.onDecision?.(p.name, o, now, d);
    if (d.memory.flaps?.at(-1) === now && p.memory.flaps?.at(-1) !== now) p.flaps++;
    p.memory = d.memory;
    if (policy.maxStep === undefined) return d;
    const stepped = Math.max(d.current - policy.maxStep, Math.min(d.current + policy.maxStep, d.desired));
    return stepped === d.desired ? d : overrideDecision(p.name, d, stepped, d.why, Math.min(d.need, stepped));
  };
  const apply = (p: PoolState, d: Decision, desired: number, why: string) => {
    const rs = live(p);
    if (desired > d.current) {
      addReplicas(p, desired - d.current);
    } else if (desired < d.current) {
      // As live: idle replicas first, then ones still starting; never one that runs a job.
      const victims = rs.filter((r) => r.running === 0).sort((a, b) => (a.readyAt > now ? 1 : 0) - (b.readyAt > now ? 1 : 0)).slice(0, d.current - desired);
      victims.forEach(stop);
      desired = d.current - victims.length;
      if (victims.length === 0) return;
    } else return;
    const dir = desired > d.current ? 1 : -1;
    p.events++;
    if (p.lastDir !== 0 && p.lastDir !== dir) p.changes++;
    p.lastDir = dir;
    events.push({ t: now, pool: p.name, from: d.current, to: desired, reason: `${p.name}: ${why}, ${d.current} -> ${desired}` });
  };
  /** One controller pass: every pool decided, capacity shared by priority, the acting pools (all, or a woken one) changed. */
  const reconcile = (only?: PoolState) => {
    const decisions = new Map<PoolState, Decision>();
    for (const p of pools.values()) {
      const fixed = policy.fixed?.(p.name);
      if (fixed !== undefined) { if (live(p).length < fixed) addReplicas(p, fixed - live(p).length); continue; }
      decisions.set(p, decideFor(p, !only || only === p));
    }
    const grants = limits.length ? allocate([...decisions].map(([p, d]) => {
      const pool = config.pools[p.name];
      return { pool: p.name, desired: d.desired, need: d.need, min: d.min, priority: pool.priority, resources: pool.resources, scope: pool.driver.kind === 'local' ? 'host' : undefined };
    }), limits) : undefined;
    for (const [p, d] of decisions) {
      if (only && only !== p) continue;
      const g = grants?.get(p.name);
      if (g?.starved && p.starvedSince === undefined) p.starvedSince = now;
      if (!g?.starved && p.starvedSince !== undefined) { p.starvedMs += now - p.starvedSince; p.starvedSince = undefined; }
      if (!g || g.granted === d.desired) { apply(p, d, d.desired, d.why); continue; }
      apply(p, d, g.granted, cappedWhy(d.why, g.granted, g, g.starved === true));
    }
  };

  const dispatch = (p: PoolState) => {
    if (p.waiting.size === 0) return;
    for (const r of p.replicas) {
      if (r.stopped !== undefined || r.readyAt > now) continue;
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
        for (const p of pools.values()) series[p.name].push({ t: nextSample / 1000, depth: p.waiting.size + live(p).reduce((n, r) => n + r.running, 0), replicas: live(p).length });
        nextSample += step;
      }
    }
    const e = ev.value;
    if (e.k === 'tick') {
      reconcile();
      // Keep ticking while work remains, then while a pool is above its min (idle shutdown), up to the tail limit.
      if (pending > 0) lastJobAt = now;
      const aboveMin = !policy.fixed && [...pools.values()].some((p) => live(p).length > config.pools[p.name].scaling.min);
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
      if (policy.wake && live(p).length === 0 && !p.wakePending) { p.wakePending = true; heap.push(now, { k: 'wake', pool: p }); }
      dispatch(p);
    } else if (e.k === 'wake') {
      e.pool.wakePending = false;
      if (live(e.pool).length === 0) reconcile(e.pool);
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
  if (step) for (const p of pools.values()) series[p.name].push({ t: now / 1000, depth: p.waiting.size + live(p).reduce((n, r) => n + r.running, 0), replicas: live(p).length });
  const account = (end: number) => {
    const result = (p: PoolState): PoolResult => {
      let replicaMs = 0; let idleMs = 0;
      for (const r of p.replicas) {
        const until = r.stopped ?? end;
        replicaMs += until - r.startedAt;
        idleMs += r.idleMs + (r.stopped === undefined && r.running === 0 && end > r.idleFrom ? end - r.idleFrom : 0);
      }
      return { ...summarise(p.waits, replicaMs, idleMs, p.price, p.events, p.changes, p.peak, p.cold), starvedSeconds: (p.starvedMs + (p.starvedSince === undefined ? 0 : end - p.starvedSince)) / 1000, flapsPerHour: end > 0 ? p.flaps / (end / 3_600_000) : 0 };
    };
    const poolResults = Object.fromEntries([...pools.values()].map((p) => [p.name, result(p)]));
    const overall = summarise([...pools.values()].flatMap((p) => p.waits), 0, 0, 0, 0, 0, 0);
    for (const r of Object.values(poolResults)) {
      overall.replicaSeconds += r.replicaSeconds; overall.idleReplicaSeconds += r.idleReplicaSeconds; overall.cost += r.cost;
      overall.scaleEvents += r.scaleEvents; overall.directionChanges += r.directionChanges; overall.peakReplicas += r.peakReplicas;
      overall.coldStarts += r.coldStarts; overall.starvedSeconds += r.starvedSeconds; overall.flapsPerHour += r.flapsPerHour;
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
    scaleEvents: events, directionChanges: changes, peakReplicas: peak, coldStarts: cold, starvedSeconds: 0, flapsPerHour: 0,
  };
}
