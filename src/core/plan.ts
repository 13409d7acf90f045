/**
 * The planning pass: one pure function from what every pool looks like now (queue depths and counters, the replicas
 * its driver lists, manual overrides), what each pool's autoscaler remembers and the host's limits, to decisions with
 * their reasons and the actions that carry them out (start N, stop these, drain these, set a count once drained).
 *
 * `serve`'s controller observes, plans and acts; the simulator feeds the same pass virtual observations and applies
 * its actions to simulated replicas. Every scaling rule lives here or below (autoscaler.ts, capacity.ts): which pools
 * a wake acts on, how replicas are counted, when rates are measured, pins and pauses, host capacity and the budget,
 * which replicas a scale-down takes, and the two scale-in styles. Read it top to bottom as the HPA's replica
 * calculator reads: no I/O, no clock, nothing of where the figures come from.
 */
import { decide, emptyMemory, overrideDecision, type AutoscalerMemory, type Decision, type PoolSettings } from './autoscaler.js';
import { allocate, cappedWhy, type Limits, type Resources } from './capacity.js';
import { emptyReplicas, type Observation, type ReplicaCounts } from './observation.js';
import { emptyRates, updateRates, type Counters, type Rates } from './rates.js';
import type { Override, QueueLoad, ReplicaState } from './records.js';

/** How long a `set-count` scale-in waits for its victims to stop taking jobs before it lowers the count anyway. */
export const DRAIN_WAIT_MS = 10_000;

/** A decision function: core's `decide`, or a baseline's own rules in the simulator. */
export type DecideFn = (pool: string, o: Observation, s: PoolSettings, memory: AutoscalerMemory, now: number) => Decision;

/** What the pass knows of a pool that does not change between passes: its settings and what its driver can do. */
export interface PoolSpec {
  /** The scaling settings with presets and defaults applied, and the concurrency. */
  settings: PoolSettings;
  /** Higher wins when host capacity or the budget cannot give every pool what it asks. */
  priority: number;
  /** What one replica takes of the host (and of the budget). */
  resources: Resources;
  /** How long a draining replica may finish its jobs. */
  drainGrace: number;
  /**
   * How its driver takes replicas away: `stop-replicas` stops the chosen ones (each drains first); `set-count`
   * lowers a count and lets its engine remove replicas, so the chosen ones drain first and the count follows.
   */
  scaleIn: 'stop-replicas' | 'set-count';
  /** Its replicas run on this machine, so they count against the host's capacity (the local driver's). */
  onHost: boolean;
  /** Largest change one decision may make (a baseline's one-at-a-time step); unbounded when left out. */
  maxStep?: number;
  /** A baseline's own decision instead of core's `decide`. */
  decide?: DecideFn;
}

/** One replica of a pool as the pass sees it. */
export interface PlanReplica {
  id: string;
  /** As it reports itself; `starting` until it does. */
  state: ReplicaState;
  /** Whether its heartbeats are in the replica directory: a drained replica leaves it. */
  registered: boolean;
  /** Its driver is taking it away (asked to stop, or the engine is removing it). */
  stopping?: boolean;
  /** When it last started or finished a job (the longest idle goes first on a scale-down). */
  lastActivity?: number;
}

/** What was read of one pool for a pass; a part that could not be read is undefined (the pool then holds). */
export interface PoolObservation {
  pool: string;
  /** Waiting, running and delayed-due jobs of its queues. */
  load?: QueueLoad;
  /** Cumulative arrival and completion counters of its queues. */
  counters?: Counters;
  /** The replicas its driver lists (the ones this controller can take away). */
  replicas?: PlanReplica[];
  /**
   * Registered replicas of the pool that its driver does not list (started by hand, on a host this controller does
   * not drive): capacity, never stopped. Undefined when the replica directory could not be read.
   */
  external?: ReplicaState[];
}

export interface PassInput {
  now: number;
  /** Every pool, in config order. */
  pools: PoolObservation[];
  /** Manual overrides (pins, pauses) by pool; undefined when unreadable: every pool then holds. */
  overrides: Record<string, Override> | undefined;
  /**
   * A wake's pass: only these pools act; the others hold with their memory untouched. Every pool is still decided,
   * so that capacity is shared as on a full pass. Rates are measured on full passes only: a sample milliseconds
   * after the last one would turn one job into a burst.
   */
  only?: string[];
}

/** A `set-count` scale-in whose victims were asked to drain: the count it started from and the count to set. */
export interface PendingScaleIn { victims: string[]; from: number; count: number; since: number; reason: string; manual: boolean }

/** What the pass carries from one pass to the next for a pool. */
export interface PoolMemory {
  autoscaler: AutoscalerMemory;
  rates: Rates;
  pendingScaleIn?: PendingScaleIn;
}

export const emptyPoolMemory = (): PoolMemory => ({ autoscaler: emptyMemory(), rates: emptyRates() });

/** The scale event an action records once it is carried out. */
export interface EventDraft { from: number; to: number; reason: string; manual: boolean }

export type Action =
  /** Start `count` more replicas; the event's `to` assumes all of them start. */
  | { type: 'start'; pool: string; count: number; event: EventDraft }
  /** `stop-replicas`: drain and stop these replicas within the grace. */
  | { type: 'stop'; pool: string; replicas: string[]; graceMs: number; event: EventDraft }
  /** `set-count`, first step: these replicas stop taking jobs and wait to be removed. */
  | { type: 'drain'; pool: string; replicas: string[] }
  /** `set-count`, second step: the engine keeps `count` replicas, removing the victims and keeping the busy ones. */
  | { type: 'set-count'; pool: string; count: number; victims: string[]; busy: string[]; graceMs: number; event: EventDraft };

export interface PoolPlan {
  pool: string;
  /** The observation the decision was made on (rates filled in). */
  observation: Observation;
  decision: Decision;
  rates: Rates;
  /** Held below what its load needs by host capacity or the budget. */
  starved: boolean;
  /** What carries the decision out, if anything does. */
  action?: Action;
}

export interface PassOutput {
  /** The pools this pass acted on, in config order. */
  plans: PoolPlan[];
  /** Every pool's memory after the pass (unchanged for pools it did not act on). */
  memory: Record<string, PoolMemory>;
}

/** One planning pass over every pool. */
export function plan(specs: Record<string, PoolSpec>, limits: Limits[], memory: Record<string, PoolMemory>, input: PassInput): PassOutput {
  const { now, overrides } = input;
  const acting = (pool: string) => !input.only || input.only.includes(pool);
  const next: Record<string, PoolMemory> = { ...memory };
  const decided: { o: PoolObservation; observation: Observation; decision: Decision; rates: Rates }[] = [];

  for (const o of input.pools) {
    const spec = specs[o.pool];
    const mem = memory[o.pool] ?? emptyPoolMemory();
    const rates = !input.only && o.counters ? updateRates(mem.rates, now, o.counters) : mem.rates;
    const observation = observe(o, rates, overrides !== undefined);
    const d = (spec.decide ?? decide)(o.pool, observation, spec.settings, mem.autoscaler, now);
    // Pools this pass does not act on keep their memory and hold, so that a wake never starts their cooldowns.
    if (!acting(o.pool)) { decided.push({ o, observation, rates, decision: overrideDecision(o.pool, d, d.current, 'not this pass') }); continue; }
    next[o.pool] = { ...mem, autoscaler: d.memory, rates };
    decided.push({ o, observation, rates, decision: manual(o.pool, step(o.pool, d, spec.maxStep), spec.settings.max, overrides) });
  }

  // Share this host (pools whose replicas run here) and the budget (every pool) by priority.
  const grants = allocate(decided.map(({ o, decision: d }) => {
    const s = specs[o.pool];
    return { pool: o.pool, desired: d.desired, need: d.need, min: d.min, priority: s.priority, resources: s.resources, scope: s.onHost ? 'host' : undefined };
  }), limits);

  const plans: PoolPlan[] = [];
  for (const { o, observation, rates, decision } of decided) {
    if (!acting(o.pool)) continue;
    let d = decision;
    const g = grants.get(o.pool)!;
    // Replicas this controller cannot stop (started elsewhere) still count as capacity.
    const desired = Math.max(g.granted, o.external?.length ?? 0);
    // Starved: less than the load needs even after idle replicas elsewhere gave their room back.
    const starved = desired !== d.desired && g.starved === true;
    if (desired !== d.desired) d = overrideDecision(o.pool, d, desired, cappedWhy(d.why, desired, g, starved), d.need);
    const mem = next[o.pool];
    const carried = carryOut(o, d, specs[o.pool], mem.pendingScaleIn, overrides?.[o.pool]?.paused ?? false, now);
    next[o.pool] = { ...mem, pendingScaleIn: carried.pending };
    plans.push({ pool: o.pool, observation, decision: carried.decision, rates, starved, action: carried.action });
  }
  return { plans, memory: next };
}

/** The observation `decide` sees: replicas counted by state, rates measured, fresh only if everything was read. */
function observe(o: PoolObservation, rates: Rates, overridesRead: boolean): Observation {
  const replicas: ReplicaCounts = emptyReplicas();
  for (const r of o.replicas ?? []) {
    if (r.stopping || r.state === 'draining') replicas.draining++;
    else replicas[r.registered ? r.state : 'starting']++;
  }
  for (const state of o.external ?? []) replicas[state]++;
  // Unreadable overrides hold every pool, as stale metrics do: a paused or pinned pool must not be autoscaled.
  const fresh = o.load !== undefined && o.replicas !== undefined && o.external !== undefined && overridesRead;
  return {
    waiting: o.load?.waiting ?? 0, running: o.load?.running ?? 0, delayedDue: o.load?.delayedDue ?? 0, oldestWait: o.load?.oldestWait,
    arrivalRate: rates.arrivalRate, serviceTime: rates.serviceTime, replicas, fresh,
  };
}

/** A baseline's bounded step (the seeds' one replica at a time). */
function step(pool: string, d: Decision, maxStep: number | undefined): Decision {
  if (maxStep === undefined) return d;
  const stepped = Math.max(d.current - maxStep, Math.min(d.current + maxStep, d.desired));
  return stepped === d.desired ? d : overrideDecision(pool, d, stepped, d.why, Math.min(d.need, stepped));
}

/** Manual overrides: paused keeps the current count, a pin sets it; a pin above max is held at max and says so. */
function manual(pool: string, d: Decision, max: number, overrides: Record<string, Override> | undefined): Decision {
  if (!overrides) return overrideDecision(pool, d, d.current, 'overrides unreadable: hold');
  const o = overrides[pool];
  if (!o?.paused) return d;
  if (o.replicas === undefined) return overrideDecision(pool, d, d.current, 'autoscaling paused');
  if (o.replicas > max) return overrideDecision(pool, d, max, `autoscaling paused, pinned at ${o.replicas} above max ${max}: held at ${max}`);
  return overrideDecision(pool, d, o.replicas, `autoscaling paused, pinned at ${o.replicas}`);
}

interface Carried { decision: Decision; action?: Action; pending?: PendingScaleIn }

/**
 * What carries a decision out. Up: start the difference. Down: idle replicas first (the longest idle first), then
 * ones still starting; a busy replica only on a manual override, and then it drains within its grace. A
 * `stop-replicas` driver stops them; a `set-count` driver's victims drain first and the count is lowered on a later
 * pass, once they take no more jobs.
 */
function carryOut(o: PoolObservation, d: Decision, spec: PoolSpec, pending: PendingScaleIn | undefined, isManual: boolean, now: number): Carried {
  const replicas = o.replicas ?? [];
  if (pending) return continueScaleIn(o.pool, replicas, d, spec, pending, now);
  if (d.direction === 'up') {
    const count = d.desired - d.current;
    return { decision: d, action: { type: 'start', pool: o.pool, count, event: { from: d.current, to: d.desired, reason: d.reason, manual: isManual } } };
  }
  if (d.direction !== 'down') return { decision: d };
  const rank = (r: PlanReplica) => (!r.registered || r.state === 'starting' ? 1 : r.state === 'idle' ? 0 : 2);
  const victims = replicas
    .filter((r) => !r.stopping && r.state !== 'draining' && (isManual || rank(r) < 2))
    .sort((a, b) => rank(a) - rank(b) || (a.lastActivity ?? 0) - (b.lastActivity ?? 0))
    .slice(0, d.current - d.desired);
  if (victims.length === 0) return { decision: overrideDecision(o.pool, d, d.current, `${d.why}; every replica is busy: hold`) };
  const to = d.current - victims.length;
  const ids = victims.map((v) => v.id);
  if (spec.scaleIn === 'stop-replicas') {
    // Fewer idle replicas than the decision would take: the busy ones stay, and the decision says so.
    const decision = to === d.desired ? d : overrideDecision(o.pool, d, to, `${d.why}; ${to - d.desired} busy replica(s) kept`, d.need);
    return { decision, action: { type: 'stop', pool: o.pool, replicas: ids, graceMs: spec.drainGrace, event: { from: d.current, to, reason: decision.reason, manual: isManual } } };
  }
  return {
    decision: overrideDecision(o.pool, d, d.current, `${d.why}; draining ${victims.length} replica(s) before ${d.current} -> ${to}`),
    action: { type: 'drain', pool: o.pool, replicas: ids },
    pending: { victims: ids, from: d.current, count: to, since: now, reason: d.reason, manual: isManual },
  };
}

/** A `set-count` scale-in whose victims were asked to drain: lower the count once they have stopped taking jobs. */
function continueScaleIn(pool: string, replicas: PlanReplica[], d: Decision, spec: PoolSpec, p: PendingScaleIn, now: number): Carried {
  const byId = new Map(replicas.map((r) => [r.id, r]));
  const victims = p.victims.flatMap((id) => byId.get(id) ?? []);
  const drained = victims.every((v) => v.stopping || v.state === 'draining' || !v.registered);
  if (!drained && now - p.since < DRAIN_WAIT_MS) {
    return { decision: overrideDecision(pool, d, d.current, `waiting for ${victims.length} replica(s) to drain before lowering the count to ${p.count}`), pending: p };
  }
  const count = Math.max(p.count, 0);
  const busy = replicas.filter((r) => r.registered && r.state === 'busy').map((r) => r.id);
  return {
    decision: overrideDecision(pool, d, count, d.why),
    action: { type: 'set-count', pool, count, victims: victims.map((v) => v.id), busy, graceMs: spec.drainGrace, event: { from: p.from, to: count, reason: p.reason, manual: p.manual } },
  };
}

/**
 * Holds each pool's memory between passes around the pure `plan`, so that the controller and the simulator carry it
 * the same way.
 */
export class Planner {
  private memory: Record<string, PoolMemory>;

  constructor(readonly specs: Record<string, PoolSpec>, readonly limits: Limits[]) {
    this.memory = Object.fromEntries(Object.keys(specs).map((p) => [p, emptyPoolMemory()]));
  }

  pass(input: PassInput): PoolPlan[] {
    const out = plan(this.specs, this.limits, this.memory, input);
    this.memory = out.memory;
    return out.plans;
  }

  /** A pool's autoscaler memory (what the learned carrier saves and restores). */
  autoscaler(pool: string): AutoscalerMemory { return this.memory[pool].autoscaler; }

  setAutoscaler(pool: string, m: AutoscalerMemory): void { this.memory[pool] = { ...this.memory[pool], autoscaler: m }; }

  rates(pool: string): Rates { return this.memory[pool].rates; }

  /**
   * Replicas started by hand (API, dashboard) count as a scale-up and as activity, so the down-cooldown and idle
   * shutdown give them their time before the autoscaler may drain them again.
   */
  startedManually(pool: string, now: number): void {
    this.setAutoscaler(pool, { ...this.autoscaler(pool), lastUpAt: now, lastBusyAt: now });
  }

  /** A `drain` action that could not be carried out: nothing is pending, the next pass decides afresh. */
  dropScaleIn(pool: string): void { this.memory[pool] = { ...this.memory[pool], pendingScaleIn: undefined }; }
}
