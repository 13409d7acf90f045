/**
 * The live feed behind `GET /events` and `GET /history`: one Redis reader for every connected client. Scale events
 * arrive at once over Redis pub/sub; every `interval` one snapshot gives each client a `tick` (per pool: replicas,
 * depths, rates, last decision, p95 queue wait over the last minute) and `replica` frames for replicas that appeared,
 * changed or left. It runs for the life of the API (one snapshot a second) so that the dashboard's charts open with
 * the last 15 minutes already drawn.
 */
import type { Redis } from '../redis/connection.js';
import { statsLabels, type Inspector, type PoolStatus, type Snapshot } from '../control/inspect.js';
import type { ReplicaInfo } from '../stores/registry.js';
import { connect } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';
import { quantile } from '../core/histogram.js';

export interface Frame { event: string; data: unknown }
type Listener = (f: Frame) => void;

/** The compact per-pool line of a tick. */
export interface PoolTick {
  name: string;
  replicas: PoolStatus['replicas'];
  min: number; max: number;
  waiting: number; running: number; delayed: number; failed: number;
  in: number; out: number;
  utilisation: number; costPerHour: number;
  autoscaling: PoolStatus['autoscaling']; pinned?: number;
  reason: string | null; cooldownRemaining: number; health?: string;
  /** Held below what its load needs by capacity or the budget. */
  starved: boolean;
  /** Its queues' rate limits, as written ("api: 10 per 1s"); empty when none is limited. */
  rateLimits: string[];
  /** 95th percentile queue wait over about the last minute, seconds; null with no job started then. */
  waitP95: number | null;
  /** How long the longest-waiting job has waited now, seconds (0 when none waits); null when the source cannot tell. */
  oldestWait: number | null;
}

const WAIT_WINDOW_MS = 60_000;
const HISTORY_MS = 15 * 60_000;

/** Per-pool columns of the kept ticks, for charts: one entry per tick, aligned with `at`. */
export interface History {
  at: number[];
  pools: Record<string, { queued: number[]; replicas: number[]; desired: (number | null)[]; in: number[]; out: number[]; waitP95: (number | null)[]; oldestWait: (number | null)[] }>;
}

export class LiveFeed {
  private readonly listeners = new Set<Listener>();
  private sub?: Redis;
  private timer?: NodeJS.Timeout;
  private replicas = new Map<string, ReplicaInfo>();
  /** Each replica as last sent in a `replica` frame. */
  private readonly sent = new Map<string, ReplicaInfo>();
  private snaps: Snapshot[] = [];
  private last?: { at: number; pools: PoolTick[] };
  private ticks: { at: number; pools: PoolTick[] }[] = [];
  private polling = false;
  private running = false;

  constructor(private readonly inspector: Inspector, private readonly redisUrl: string, private readonly intervalMs = 1_000) {}

  /** Adds a client; it gets the current state at once. Returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    if (this.last) fn({ event: 'tick', data: this.last });
    fn({ event: 'replicas', data: [...this.replicas.values()] });
    return () => { this.listeners.delete(fn); };
  }

  /** The kept ticks (up to 15 minutes), as columns per pool. */
  history(sinceMs = HISTORY_MS): History {
    const from = Date.now() - sinceMs;
    const kept = this.ticks.filter((t) => t.at >= from);
    const pools: History['pools'] = {};
    for (const name of this.inspector.poolNames) pools[name] = { queued: [], replicas: [], desired: [], in: [], out: [], waitP95: [], oldestWait: [] };
    for (const t of kept) {
      for (const name of this.inspector.poolNames) {
        const p = t.pools.find((x) => x.name === name);
        const h = pools[name];
        h.queued.push(p ? p.waiting + p.running : 0); h.replicas.push(p?.replicas.current ?? 0); h.desired.push(p?.replicas.desired ?? null);
        h.in.push(p?.in ?? 0); h.out.push(p?.out ?? 0); h.waitP95.push(p?.waitP95 ?? null); h.oldestWait.push(p?.oldestWait ?? null);
      }
    }
    return { at: kept.map((t) => t.at), pools };
  }

  private emit(f: Frame): void { for (const l of this.listeners) l(f); }

  /** Starts reading: the subscription first, then a snapshot every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.sub = connect(this.redisUrl, 'trireme-api-live');
    this.sub.on('message', (_c, msg: string) => {
      try { const e = JSON.parse(msg); this.emit({ event: e.type ?? 'message', data: e }); } catch { /* not ours */ }
    });
    // The first tick goes out once the subscription holds, so a client that has seen a tick misses no event after it.
    const first = () => void this.poll();
    this.sub.subscribe(keys.events(ownPrefix(this.sub, this.inspector.project.config.prefix))).then(first, first);
    this.timer = setInterval(() => void this.poll(), this.intervalMs);
  }

  private async poll(): Promise<void> {
    if (this.polling) return; // a slow Redis must not pile reads up
    this.polling = true;
    try {
      const snap = await this.inspector.snapshot();
      if (!this.running) return;
      this.diffReplicas(snap.replicas);
      this.snaps.push(snap);
      while (this.snaps.length > 2 && snap.at - this.snaps[1].at >= WAIT_WINDOW_MS) this.snaps.shift();
      const pools = await this.inspector.pools(snap);
      this.last = { at: snap.at, pools: pools.map((p) => this.tick(p, snap)) };
      this.ticks.push(this.last);
      while (this.ticks.length && this.ticks[0].at < snap.at - HISTORY_MS) this.ticks.shift();
      this.emit({ event: 'tick', data: this.last });
    } catch (err) {
      this.emit({ event: 'feed-error', data: { message: `cannot read Redis: ${(err as Error).message}` } });
    } finally {
      this.polling = false;
    }
  }

  private diffReplicas(now: ReplicaInfo[]): void {
    const seen = new Set<string>();
    const changed: ReplicaInfo[] = [];
    for (const r of now) {
      seen.add(r.id);
      const before = this.replicas.get(r.id);
      // Resource figures change on every sample: a row is sent again when they moved enough to show since it was
      // last sent (1 MiB, 1 % CPU).
      const sent = this.sent.get(r.id);
      const moved = sent !== undefined && (Math.abs((sent.rss ?? 0) - (r.rss ?? 0)) >= 1024 * 1024 || Math.abs((sent.cpuPercent ?? 0) - (r.cpuPercent ?? 0)) >= 1);
      if (!before || moved || before.state !== r.state || before.running !== r.running || before.jobsDone !== r.jobsDone) {
        changed.push(r);
        this.sent.set(r.id, r);
      }
      this.replicas.set(r.id, r);
    }
    const gone = [...this.replicas.keys()].filter((id) => !seen.has(id));
    for (const id of gone) { this.replicas.delete(id); this.sent.delete(id); }
    if (changed.length || gone.length) this.emit({ event: 'replica', data: { changed, gone } });
  }

  private tick(p: PoolStatus, snap: Snapshot): PoolTick {
    const d = p.decision;
    const oldest = this.snaps[0];
    const counts = statsLabels(this.inspector.project.config.pools[p.name]).reduce<number[]>((acc, q) => {
      const nowC = snap.stats.get(q)?.wait ?? [];
      const thenC = oldest !== snap ? oldest.stats.get(q)?.wait ?? [] : [];
      nowC.forEach((n, i) => { acc[i] = (acc[i] ?? 0) + n - (thenC[i] ?? 0); });
      return acc;
    }, []);
    const p95 = oldest !== snap ? quantile(counts, 0.95) : undefined;
    return {
      name: p.name, replicas: p.replicas, ...p.bounds,
      waiting: p.depths.waiting, running: p.depths.running, delayed: p.depths.delayed, failed: p.depths.failed,
      in: p.rates.in, out: p.rates.out, utilisation: p.utilisation, costPerHour: p.costPerHour,
      autoscaling: p.autoscaling, pinned: p.pinned, reason: d?.reason ?? null,
      cooldownRemaining: p.cooldownRemaining, health: d?.health, starved: d?.starved === true,
      rateLimits: Object.entries(p.rateLimits).map(([q, l]) => `${q}: ${l.text}`),
      waitP95: p95 ?? null, oldestWait: p.depths.oldestWaitSeconds,
    };
  }

  close(): void {
    this.running = false;
    this.listeners.clear();
    clearInterval(this.timer);
    this.sub?.disconnect();
  }
}
