/**
 * What Celery's event stream says of a broker's workers, kept the way Flower keeps it: each worker's heartbeats
 * (`worker-heartbeat` every `freq` seconds carries how many tasks it runs), and each task from `task-received`
 * (reserved: prefetched, not started) through `task-started` to its end. From that: which workers are busy and which
 * idle (a scale-in takes idle ones only), the pools' running and reserved tasks, and the counters the faces and the
 * rates read (service times, waits, outcomes).
 *
 * Pure: events and broker depths in, with `now` from the caller's clock; no I/O (signals/celery.ts feeds it).
 * Liveness is judged on the caller's clock (when an event arrived), durations on the worker's own timestamps, so
 * that clocks that disagree between hosts change neither.
 */
import { bucketIndex } from '../core/histogram.js';
import { emptyTally, type QueueLoad, type QueueTally, type ReplicaInfo } from '../core/records.js';
import { celeryStatsLabel } from '../core/celery.js';

/** One Celery event as its JSON body has it (the fields Trireme reads). */
export interface CeleryEvent {
  type: string;
  hostname: string;
  /** The worker's clock, seconds. */
  timestamp: number;
  pid?: number;
  uuid?: string;
  /** worker-heartbeat: tasks it runs now; how many it has run; seconds between heartbeats. */
  active?: number;
  processed?: number;
  freq?: number;
  /** task-succeeded: seconds the task ran. */
  runtime?: number;
  /** task-received: ISO time before which it may not run (countdown, eta). */
  eta?: string | null;
  retries?: number;
}

/** A Celery pool of the config, as the table sorts workers into pools. */
export interface CeleryPoolRef { name: string; queues: string[]; concurrency: number }

/** What the broker says of one queue: messages ready, and reserved-but-unacknowledged ones where it can tell. */
export interface BrokerDepth { ready: number; unacked?: number }

interface Task {
  worker: string;
  state: 'reserved' | 'active';
  /** Worker clock, seconds. */
  receivedTs: number;
  startedTs?: number;
  /** When it may run, ms since the epoch (an eta or countdown). */
  eta?: number;
}

interface Worker {
  node: string;
  pid: number;
  freq: number;
  /** Caller's clock, ms: first and last event from it. */
  firstSeen: number;
  lastSeen: number;
  lastActivity: number;
  processed: number;
  /** Tasks running by its last heartbeat, and since when it has said fewer than the events do. */
  heartbeatActive: number;
  fewerSince?: number;
  /** Which came last (caller's clock): its heartbeat, or an event of one of its tasks. */
  heartbeatAt: number;
  taskEventAt: number;
  /** The pool, from the queues it consumes (remote control's active_queues) or its Trireme-given name. */
  pool?: string;
  /** Its queues were asked (active_queues answered for it): a worker of no pool of ours stays so. */
  asked?: boolean;
  concurrency?: number;
  draining: boolean;
}

/** A worker not heard from for this many heartbeat intervals (and 2 s more) is gone: Flower's window is 2 too. */
const EXPIRE_INTERVALS = 2;
/** Tasks remembered by id to count each arrival once (a redelivered task keeps its id) and to match task-sent. */
const REMEMBERED = 20_000;

export class CeleryWorkers {
  private readonly workers = new Map<string, Worker>();
  private readonly tasks = new Map<string, Task>();
  private readonly seen = new Set<string>();
  private readonly sent = new Map<string, number>();
  private tallies = new Map<string, QueueTally>();
  /** Workers that left (worker-offline, or silent past their window) since `expire` last said so. */
  private left: string[] = [];
  /** Tasks held by workers that went silent (died: no worker-offline): their broker may hold them unacknowledged. */
  private orphans: string[] = [];
  private readonly poolOf: Map<string, CeleryPoolRef>;

  constructor(private readonly pools: CeleryPoolRef[]) {
    this.poolOf = new Map(pools.map((p) => [p.name, p]));
  }

  /** Applies one event received at `now` (ms, the caller's clock). */
  apply(e: CeleryEvent, now: number): void {
    if (!e || typeof e.hostname !== 'string' || typeof e.type !== 'string') return;
    if (e.type === 'task-sent') { if (e.uuid) this.remember(this.sent, e.uuid, e.timestamp); return; }
    if (e.type === 'worker-offline') { this.forget(e.hostname); return; }
    const w = this.worker(e, now);
    if (e.type === 'worker-heartbeat' || e.type === 'worker-online') {
      w.freq = e.freq ?? w.freq;
      w.processed = e.processed ?? w.processed;
      if (typeof e.active === 'number') this.heartbeat(w, e.active, now);
      return;
    }
    if (!e.uuid || !e.type.startsWith('task-')) return;
    w.taskEventAt = now;
    const t = this.tasks.get(e.uuid);
    switch (e.type) {
      case 'task-received': {
        const eta = e.eta ? Date.parse(e.eta) : NaN;
        this.tasks.set(e.uuid, { worker: w.node, state: 'reserved', receivedTs: e.timestamp, ...(Number.isFinite(eta) ? { eta } : {}) });
        if (!this.seen.has(e.uuid)) {
          this.remember(this.seen, e.uuid);
          const tally = this.tallyOf(w);
          if (tally) tally.submitted = (tally.submitted ?? 0) + 1;
        }
        break;
      }
      case 'task-started': {
        const task = t ?? { worker: w.node, state: 'active', receivedTs: e.timestamp };
        task.worker = w.node; task.state = 'active'; task.startedTs = e.timestamp;
        this.tasks.set(e.uuid, task);
        w.lastActivity = now;
        const tally = this.tallyOf(w);
        // Queue wait: from when the client sent it (task-sent, when the app sends those), else from its receipt.
        const from = this.sent.get(e.uuid) ?? task.receivedTs;
        if (tally) addSeconds(tally, 'wait', Math.max(0, e.timestamp - from));
        break;
      }
      case 'task-succeeded': case 'task-failed': case 'task-retried': case 'task-revoked': case 'task-rejected': {
        this.tasks.delete(e.uuid);
        w.lastActivity = now;
        const tally = this.tallyOf(w);
        if (!tally || e.type === 'task-rejected') break;
        if (e.type === 'task-revoked') { tally.cancelled++; tally.failed++; break; }
        if (e.type === 'task-succeeded') tally.completed++; else tally.failed++;
        const ran = e.runtime ?? (t?.startedTs !== undefined ? e.timestamp - t.startedTs : undefined);
        if (ran !== undefined && ran >= 0) addSeconds(tally, 'duration', ran);
        break;
      }
      default:
    }
  }

  /** Which queues each worker consumes (remote control's active_queues): sorts them into pools. */
  setQueues(replies: Map<string, string[]>): void {
    for (const [node, queues] of replies) {
      const w = this.workers.get(node);
      if (!w) continue;
      w.asked = true;
      const pool = this.pools.find((p) => p.queues.some((q) => queues.includes(q)));
      if (pool) w.pool = pool.name;
    }
  }

  /** How many tasks each worker runs at once (remote control's stats: pool.max-concurrency). */
  setConcurrency(replies: Map<string, number>): void {
    for (const [node, n] of replies) { const w = this.workers.get(node); if (w) w.concurrency = n; }
  }

  /** Workers seen whose pool is not known yet and whose queues were not asked (remote control will be). */
  unsorted(): string[] { return [...this.workers.values()].filter((w) => !w.pool && !w.asked).map((w) => w.node); }

  /** The nodes of a pool's workers. */
  nodesOf(pool: string): string[] { return [...this.workers.values()].filter((w) => w.pool === pool).map((w) => w.node); }

  /** A worker asked to stop consuming (a drain): it counts as draining until it leaves. */
  markDraining(node: string): boolean {
    const w = this.workers.get(node);
    if (w) w.draining = true;
    return !!w;
  }

  /** Drops workers not heard from within their window; returns every worker gone since the last call. */
  expire(now: number): string[] {
    for (const w of [...this.workers.values()]) {
      if (now - w.lastSeen <= (EXPIRE_INTERVALS * w.freq + 2) * 1000) continue;
      // Gone without a worker-offline: it died, and what it held was not handed back by its shutdown.
      for (const [id, t] of this.tasks) if (t.worker === w.node) this.orphans.push(id);
      this.forget(w.node);
    }
    const left = this.left;
    this.left = [];
    return left;
  }

  /**
   * A pool's load: running = tasks its workers run; waiting = messages ready in the broker plus those its workers
   * reserved and could run now; delayedDue = reserved ones whose eta comes within `horizonMs`. Where the broker counts
   * unacknowledged messages (Redis), those its workers hold beyond what the events account for count as waiting too
   * (a worker that died holding them, events missed): prefetched work is never read as an empty queue.
   */
  load(pool: string, depths: Map<string, BrokerDepth>, now: number, horizonMs: number): QueueLoad {
    const queues = this.poolOf.get(pool)?.queues ?? [];
    let ready = 0;
    let unacked: number | undefined = 0;
    for (const q of queues) {
      const d = depths.get(q);
      ready += d?.ready ?? 0;
      unacked = d?.unacked === undefined || unacked === undefined ? undefined : unacked + d.unacked;
    }
    let running = 0; let reservedNow = 0; let due = 0; let later = 0;
    for (const w of this.workers.values()) if (w.pool === pool) running += this.activeOf(w);
    for (const t of this.tasks.values()) {
      if (t.state !== 'reserved' || this.workers.get(t.worker)?.pool !== pool) continue;
      if (t.eta === undefined || t.eta <= now) reservedNow++;
      else if (t.eta <= now + horizonMs) due++;
      else later++;
    }
    const held = unacked === undefined ? reservedNow : Math.max(reservedNow, unacked - running - due - later);
    return { waiting: ready + held, running, delayedDue: due };
  }

  /** The workers of the config's Celery pools as replica registry entries. */
  replicas(): ReplicaInfo[] {
    return [...this.workers.values()].filter((w) => w.pool).map((w) => {
      const running = this.activeOf(w);
      const reserved = [...this.tasks.values()].filter((t) => t.worker === w.node && t.state === 'reserved' && t.eta === undefined).length;
      const at = w.node.indexOf('@');
      return {
        id: w.node, pool: w.pool!, host: at >= 0 ? w.node.slice(at + 1) : w.node, pid: w.pid,
        // Reserved tasks make a worker busy too: stopping it would hand them back, and it is about to run them.
        state: w.draining ? 'draining' : running + reserved > 0 ? 'busy' : 'idle',
        startedAt: w.firstSeen, lastActivity: w.lastActivity, jobsDone: w.processed, running,
        concurrency: w.concurrency ?? this.poolOf.get(w.pool!)!.concurrency,
      };
    });
  }

  /** Task ids that dead workers held, since the last call (celery.ts hands them back where the broker does not). */
  takeOrphans(): string[] {
    const out = this.orphans;
    this.orphans = [];
    return out;
  }

  /** The counters added up since the last call, by stats label (core/celery.ts), and a fresh start. */
  takeTallies(): Map<string, QueueTally> {
    const out = this.tallies;
    this.tallies = new Map();
    return out;
  }

  /**
   * Tasks running on a worker: the events' count, or its heartbeat's where that came after the last task event and
   * says more (a worker buffers its task events, not its heartbeats: a task it started may show in a heartbeat
   * first). A heartbeat older than the last task event is stale: a task that ended since must not keep it busy.
   */
  private activeOf(w: Worker): number {
    let n = 0;
    for (const t of this.tasks.values()) if (t.worker === w.node && t.state === 'active') n++;
    return w.heartbeatAt >= w.taskEventAt ? Math.max(n, w.heartbeatActive) : n;
  }

  /**
   * A heartbeat's count of running tasks. Task events are buffered by the worker and a heartbeat is not, so the two
   * may disagree for a moment; where the heartbeat says fewer for two intervals, the oldest tasks it no longer runs
   * were missed ends (a controller restart) and go. Reserved tasks of a worker idle that long go too: with free
   * slots and fair scheduling it would have started them.
   */
  private heartbeat(w: Worker, active: number, now: number): void {
    w.heartbeatActive = active;
    w.heartbeatAt = now;
    const mine = [...this.tasks.entries()].filter(([, t]) => t.worker === w.node);
    const running = mine.filter(([, t]) => t.state === 'active');
    if (running.length <= active && (active > 0 || !mine.some(([, t]) => t.state === 'reserved' && t.eta === undefined))) { w.fewerSince = undefined; return; }
    w.fewerSince ??= now;
    if (now - w.fewerSince < EXPIRE_INTERVALS * w.freq * 1000) return;
    running.sort(([, a], [, b]) => (a.startedTs ?? 0) - (b.startedTs ?? 0)).slice(0, Math.max(0, running.length - active)).forEach(([id]) => this.tasks.delete(id));
    if (active === 0) for (const [id, t] of mine) if (t.state === 'reserved' && t.eta === undefined) this.tasks.delete(id);
    w.fewerSince = undefined;
  }

  private worker(e: CeleryEvent, now: number): Worker {
    let w = this.workers.get(e.hostname);
    if (!w) {
      w = { node: e.hostname, pid: e.pid ?? 0, freq: e.freq ?? 2, firstSeen: now, lastSeen: now, lastActivity: now, processed: 0, heartbeatActive: 0, heartbeatAt: now, taskEventAt: -Infinity, draining: false, pool: this.namedPool(e.hostname) };
      this.workers.set(e.hostname, w);
    }
    w.lastSeen = now;
    if (e.pid) w.pid = e.pid;
    return w;
  }

  /** The pool a node name gives, `POOL-ID@HOST`, as Trireme names the workers it starts (the longest pool name that fits). */
  private namedPool(node: string): string | undefined {
    const name = node.split('@')[0];
    return this.pools.filter((p) => name.startsWith(`${p.name}-`)).sort((a, b) => b.name.length - a.name.length)[0]?.name;
  }

  private tallyOf(w: Worker): QueueTally | undefined {
    const pool = w.pool && this.poolOf.get(w.pool);
    if (!pool) return undefined;
    const label = celeryStatsLabel(pool.queues);
    let t = this.tallies.get(label);
    if (!t) this.tallies.set(label, (t = emptyTally()));
    return t;
  }

  private forget(node: string): void {
    if (this.workers.delete(node)) this.left.push(node);
    for (const [id, t] of this.tasks) if (t.worker === node) this.tasks.delete(id);
  }

  private remember<V>(into: Set<string> | Map<string, V>, id: string, value?: V): void {
    if (into.size >= REMEMBERED) into.delete(into.keys().next().value!);
    if (into instanceof Set) into.add(id); else into.set(id, value!);
  }
}

function addSeconds(t: QueueTally, what: 'wait' | 'duration', seconds: number): void {
  const i = bucketIndex(seconds);
  t[what][i] = (t[what][i] ?? 0) + 1;
  if (what === 'wait') { t.waits++; t.waitMs += seconds * 1000; } else t.serviceMs += seconds * 1000;
}
