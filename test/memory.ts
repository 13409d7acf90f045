/**
 * In-memory versions of the controller's state and of a driver, for unit tests of the controller's logic on a
 * ManualClock (what it pins, caps and stops, when a wake acts, how a set-count scale-in drains first), and of a
 * replica's parts (its job source, heartbeat sink and cancel feed), for unit tests of its drain, recycle and
 * heartbeat rules.
 */
import type { ControllerState, Override, QueueLoad, ReplicaInfo, ScaleEvent, StoredDecision } from '../src/core/state.js';
import { sumCounters, type Counters } from '../src/core/rates.js';
import type { Notice } from '../src/core/notices.js';
import type { Driver, DriverReplica, PoolHealth, ScaleIn } from '../src/drivers/driver.js';
import { Bounce, HandBack, Unrecoverable, type CancelFeed, type HeartbeatSink, type JobHandler, type JobSource, type ReplicaControl, type ReplicaJob } from '../src/replica/parts.js';
import type { SlotGate } from '../src/replica/slots.js';
import type { QueueTally } from '../src/stores/registry.js';

type ScaleInStyle = Driver['scaleIn'];

export class MemoryState implements ControllerState {
  held = true;
  registry = new Map<string, ReplicaInfo>();
  drains: { id: string; hold: boolean }[] = [];
  overridesMap: Record<string, Override> = {};
  failOverrides = false;
  failWrites = false;
  events: ScaleEvent[] = [];
  saved: StoredDecision[][] = [];
  learnedMap: Record<string, unknown> = {};
  /** The last leader recorded (swapLeader), and notices replicas left (takeNotices). */
  lastLeader: string | null = null;
  notices: Notice[] = [];
  loads = new Map<string, QueueLoad>();
  counts = new Map<string, Counters>();
  private wake?: (queue: string) => void;

  lease = {
    isHeld: false,
    acquire: async () => (this.lease.isHeld = this.held),
    release: async () => { this.lease.isHeld = false; },
  };

  replicas = {
    list: async () => [...this.registry.values()],
    requestDrain: async (id: string, o?: { hold?: boolean }) => { this.drains.push({ id, hold: o?.hold ?? false }); },
  };

  records = {
    overrides: async () => { if (this.failOverrides) throw new Error('Connection is closed'); return this.overridesMap; },
    addEvent: async (e: ScaleEvent) => { if (this.failWrites) throw new Error('Connection is closed'); this.events.push(e); },
    saveDecisions: async (d: StoredDecision[]) => { if (this.failWrites) throw new Error('Connection is closed'); this.saved.push(d); },
    learned: async () => structuredClone(this.learnedMap),
    saveLearned: async (l: Record<string, unknown>) => { if (this.failWrites) throw new Error('Connection is closed'); Object.assign(this.learnedMap, structuredClone(l)); },
    swapLeader: async (id: string) => { const was = this.lastLeader; this.lastLeader = id; return was; },
    takeNotices: async () => this.notices.splice(0),
  };

  queues = {
    load: async (pools: { name: string }[]) => new Map(pools.map((p) => [p.name, this.loads.get(p.name) ?? { waiting: 0, running: 0, delayedDue: 0 }])),
    counters: async (pools: { name: string; queues: string[] }[]) => new Map(pools.map((p) => [p.name, sumCounters(p.queues, this.counts)])),
    onWake: async (fn: (queue: string) => void) => { this.wake = fn; },
  };

  /** What a submitter's announce does. */
  submitted(queue: string): void { this.wake?.(queue); }

  /** Registers a replica as its heartbeat would. */
  register(r: Partial<ReplicaInfo> & { id: string; pool: string }): void {
    this.registry.set(r.id, { host: 'h', pid: 1, state: 'idle', startedAt: 0, lastActivity: 0, jobsDone: 0, running: 0, concurrency: 1, ...r });
  }

  async close(): Promise<void> {}
}

/**
 * A driver whose replicas are entries in a map; `scaleIn` picks which of the two contracts it follows (it has both
 * methods; `driver` is it seen as the one its style names). Named `local`, its replicas share this host.
 */
export class MemoryDriver {
  readonly placement: Driver['placement'];
  replicas = new Map<string, DriverReplica>();
  starts: { pool: string; count: number }[] = [];
  stops: string[] = [];
  counts: { pool: string; count: number; scaleIn: ScaleIn }[] = [];
  private n = 0;

  constructor(readonly name: string, readonly scaleIn: ScaleInStyle, private readonly state?: MemoryState) {
    this.placement = name === 'local' ? 'this-host' : 'elsewhere';
  }

  /** This driver as the controller takes it. */
  get driver(): Driver { return this as unknown as Driver; }

  async list(pool: string): Promise<DriverReplica[]> { return [...this.replicas.values()].filter((r) => r.pool === pool); }

  /** Set: every start fails with this message, as an engine that refuses would. */
  failStarts?: string;

  /** Set: starts are held back (none started) and the pool's health says why, as a crash loop's backoff does. */
  heldBack?: PoolHealth;

  async start(pool: string, count: number): Promise<number> {
    if (this.failStarts) throw new Error(this.failStarts);
    if (this.heldBack) return 0;
    this.starts.push({ pool, count });
    for (let i = 0; i < count; i++) {
      const id = `${pool}-${++this.n}`;
      this.replicas.set(id, { id, pool, handle: id, host: id, startedAt: 0, phase: 'running' });
    }
    return count;
  }

  async stop(id: string): Promise<void> {
    this.stops.push(id);
    const r = this.replicas.get(id);
    if (r) r.phase = 'stopping';
  }

  async setCount(pool: string, count: number, scaleIn: ScaleIn): Promise<{ note?: string }> {
    this.counts.push({ pool, count, scaleIn });
    for (const v of scaleIn.victims) { this.replicas.delete(v.id); this.state?.registry.delete(v.id); }
    return {};
  }

  health(): PoolHealth { return this.heldBack ?? { status: 'ok', restarts: 0 }; }

  async close(): Promise<void> {}
}

/** What became of a job handed to a replica by the in-memory source. */
export type Outcome = { outcome: 'completed'; value: unknown } | { outcome: 'handed-back' | 'bounced' | 'unrecoverable' | 'failed'; error: string };

/** An in-memory job source: the test hands the replica jobs one by one, as a queue consumer would. */
export class MemoryJobSource implements JobSource {
  private handler?: JobHandler;
  state: 'new' | 'prepared' | 'running' | 'paused' | 'closed' = 'new';
  private n = 0;

  async prepare(queues: string[], gate: SlotGate, handler: JobHandler): Promise<void> {
    this.handler = handler;
    for (const q of queues) gate.attach(q, { concurrency: 1 });
    this.state = 'prepared';
  }

  run(): void { this.state = 'running'; }
  async pause(): Promise<void> { this.state = 'paused'; }
  async close(): Promise<void> { this.state = 'closed'; }

  /** A job of `task` with `data`, handed to the replica; resolves with what became of it. */
  deliver(queue: string, task: string, data: unknown = {}, over: Partial<ReplicaJob> = {}): { id: string; done: Promise<Outcome> } {
    if (!this.handler) throw new Error('the replica has not prepared its source');
    const id = `${queue}~${++this.n}`;
    const job: ReplicaJob = {
      id, name: task, data, attemptsMade: 0, timestamp: 0, opts: { attempts: 1 },
      log: async () => 0, updateProgress: async () => {}, getChildrenValues: async () => ({}), ...over,
    };
    const done = this.handler(queue, job).then((value): Outcome => ({ outcome: 'completed', value }), (e: Error): Outcome => ({
      outcome: e instanceof HandBack ? 'handed-back' : e instanceof Bounce ? 'bounced' : e instanceof Unrecoverable ? 'unrecoverable' : 'failed', error: e.message,
    }));
    return { id, done };
  }
}

/** The replica registry's part a replica sees: its beats, with a control the test may set for the next one. */
export class MemoryHeartbeats implements HeartbeatSink {
  beats: { at: number; info: ReplicaInfo; tallies: Map<string, QueueTally> }[] = [];
  removed: string[] = [];
  control: ReplicaControl | null = null;
  constructor(private readonly clock: { now(): number }) {}
  async beat(info: ReplicaInfo, tallies: Map<string, QueueTally>): Promise<string | null> {
    this.beats.push({ at: this.clock.now(), info, tallies });
    const c = this.control;
    this.control = null;
    return c;
  }
  async remove(id: string): Promise<void> { this.removed.push(id); }
  notices: Notice[] = [];
  async notice(n: Notice): Promise<void> { this.notices.push(n); }
}

/** The cancel channel, fired by the test. */
export class MemoryCancels implements CancelFeed {
  private fn?: (jobId: string) => void;
  closed = false;
  async listen(onCancel: (jobId: string) => void): Promise<void> { this.fn = onCancel; }
  cancel(jobId: string): void { this.fn?.(jobId); }
  close(): void { this.closed = true; }
}
