/**
 * In-memory versions of the controller's state and of a driver, for unit tests of the controller's logic on a
 * ManualClock: what it pins, caps and stops, when a wake acts, how a set-count scale-in drains first.
 */
import type { ControllerState, Override, QueueLoad, ReplicaInfo, ScaleEvent, StoredDecision } from '../src/core/state.js';
import { sumCounters, type Counters } from '../src/core/rates.js';
import type { Driver, DriverReplica, PoolHealth, ScaleIn } from '../src/drivers/driver.js';

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

  async start(pool: string, count: number): Promise<number> {
    if (this.failStarts) throw new Error(this.failStarts);
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

  health(): PoolHealth { return { status: 'ok', restarts: 0 }; }

  async close(): Promise<void> {}
}
