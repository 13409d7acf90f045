/**
 * Prometheus metrics. Queue depths, replicas, decisions and job counters are read from Redis once per scrape (one
 * snapshot shared by every metric), so any `trireme serve` answers for the whole system, leader or not. Job duration
 * and queue-wait histograms are summed from the per-bucket counts replicas write (core/histogram.ts). The controller
 * loop duration and the leader flag belong to this process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Inspector, PoolStatus, Snapshot } from '../control/inspect.js';
import type { ReplicaInfo } from '../core/records.js';
import { cumulative, JOB_SECONDS_BUCKETS } from '../core/histogram.js';
import type { OutboxState } from '../history/backlog.js';
import type { QueueStats } from '../stores/control-store.js';
import { RUNNER_EXIT_REASONS } from '../core/records.js';
import { memoryLimitOf } from '../core/replica.js';

interface Source {
  inspector: Inspector;
  isLeader(): boolean;
  /** With history on: the outbox in Redis (records waiting, the oldest, those set aside). */
  history?: () => Promise<OutboxState>;
}

export class Metrics {
  readonly registry = new Registry();
  private snap?: Snapshot;
  /** The pools as the API shows them, from the same snapshot: replicas, bounds and utilisation are computed once. */
  private pools: PoolStatus[] = [];
  private eventCounts: { pool: string; direction: string; count: number }[] = [];
  private history?: OutboxState;
  readonly loopDuration: Histogram;
  /** Writes this process's controller could not make (a scale event, its decisions), by what and pool. */
  readonly droppedWrites: Counter;
  /** Notices this process's controller sent to webhooks, by webhook and outcome (delivered, dropped). */
  readonly notifications: Counter;

  constructor(private readonly src: Source) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    // prom-client names these gauges `_total`, which Prometheus reserves for counters (promtool warns).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) r.removeSingleMetric(name);
    // Collect callbacks get the metric as `this`; these read the scrape's snapshot.
    const snap = () => this.snap;
    const pools = () => this.pools;
    const eventCounts = () => this.eventCounts;
    new Gauge({
      name: 'trireme_queue_jobs', help: 'Jobs in each queue by state (waiting includes prioritized).', labelNames: ['queue', 'state'], registers: [r],
      collect() {
        this.reset();
        for (const d of snap()?.depths ?? []) {
          const states = { waiting: d.waiting + d.prioritized, active: d.active, delayed: d.delayed, failed: d.failed, completed: d.completed };
          for (const [state, n] of Object.entries(states)) this.set({ queue: d.queue, state }, n);
        }
      },
    });
    new Gauge({
      name: 'trireme_queue_oldest_wait_seconds', help: 'How long the longest-waiting runnable job of each queue has waited (0 when none waits); what a targetWait is measured against.', labelNames: ['queue'], registers: [r],
      collect() {
        this.reset();
        for (const p of pools()) {
          for (const [queue, d] of Object.entries(p.depths.byQueue)) if (d.oldestWaitSeconds !== null) this.set({ queue }, d.oldestWaitSeconds);
        }
      },
    });
    const perPool = (name: string, help: string, value: (p: PoolStatus) => number | null) => new Gauge({
      name, help, labelNames: ['pool'], registers: [r],
      collect() {
        this.reset();
        for (const p of pools()) { const v = value(p); if (v !== null) this.set({ pool: p.name }, v); }
      },
    });
    new Gauge({
      name: 'trireme_pool_replicas', help: 'Replicas of each pool by state.', labelNames: ['pool', 'state'], registers: [r],
      collect() {
        this.reset();
        for (const p of pools()) for (const state of ['starting', 'idle', 'busy', 'draining'] as const) this.set({ pool: p.name, state }, p.replicas[state]);
      },
    });
    perPool('trireme_pool_desired_replicas', 'Replicas the autoscaler wants for each pool (its last decision).', (p) => p.replicas.desired);
    perPool('trireme_pool_min_replicas', 'Lower replica bound of each pool (schedules applied).', (p) => p.bounds.min);
    perPool('trireme_pool_max_replicas', 'Upper replica bound of each pool (schedules applied).', (p) => p.bounds.max);
    perPool('trireme_pool_utilisation_ratio', 'Busy job slots over all job slots of serving replicas, 0 to 1.', (p) => p.utilisation);
    perPool('trireme_pool_autoscaling_paused', '1 when a pool\'s autoscaling is paused (manual override).', (p) => (p.autoscaling === 'paused' ? 1 : 0));
    perPool('trireme_pool_waiting_jobs', 'Jobs waiting in a pool\'s queues (prioritized included).', (p) => p.depths.waiting);
    const config = src.inspector.project.config;
    perPool('trireme_pool_replica_memory_limit_bytes', 'Memory one replica of a pool may use with everything it starts: resources.memory, or maxMemory where it recycles the replica and is lower.',
      (p) => memoryLimitOf(config.pools[p.name]));
    new Gauge({
      name: 'trireme_pool_unhealthy', help: 'Pools whose driver reports a problem (crash-loop, backoff, error, degraded), by pool and status: 1 while it lasts.', labelNames: ['pool', 'status'], registers: [r],
      collect() {
        this.reset();
        for (const p of pools()) if (p.decision?.health) this.set({ pool: p.name, status: p.decision.health.split(':')[0] }, 1);
      },
    });
    // Per replica, with bounded labels (pool and replica id): each scrape starts afresh, so a gone replica's series go.
    const perReplica = (name: string, help: string, value: (x: ReplicaInfo) => number | undefined, counter = false) => {
      const opts = {
        name, help, labelNames: ['pool', 'replica'], registers: [r],
        collect(this: Gauge | Counter) {
          this.reset();
          for (const x of snap()?.replicas ?? []) {
            const v = value(x);
            if (v === undefined) continue;
            if (counter) (this as Counter).inc({ pool: x.pool, replica: x.id }, v); else (this as Gauge).set({ pool: x.pool, replica: x.id }, v);
          }
        },
      };
      return counter ? new Counter(opts) : new Gauge(opts);
    };
    perReplica('trireme_replica_cpu_seconds_total', 'CPU seconds of each replica with its runners and command programs (its process tree), since it started.', (x) => x.cpuSeconds, true);
    perReplica('trireme_replica_memory_bytes', 'Resident memory of each replica with its runners and command programs (its process tree).', (x) => x.rss);
    perReplica('trireme_replica_gpu_memory_bytes', 'GPU memory the processes of each replica hold, where nvidia-smi tells (pools with GPUs).', (x) => x.gpuMemory);
    if (config.storage) {
      perPool('trireme_pool_storage_failing_replicas', 'Replicas of a pool that cannot write storage.dir (their last probe failed).',
        (p) => (snap()?.replicas ?? []).filter((x) => x.pool === p.name && x.storage !== undefined && x.storage !== 'ok').length);
    }
    new Counter({
      name: 'trireme_scaling_events_total', help: 'Scale events by pool and direction (up, down).', labelNames: ['pool', 'direction'], registers: [r],
      collect() {
        this.reset();
        for (const e of eventCounts()) this.inc({ pool: e.pool, direction: e.direction }, e.count);
      },
    });
    new Counter({
      name: 'trireme_jobs_submitted_total', help: 'Jobs submitted to each queue.', labelNames: ['queue'], registers: [r],
      collect() {
        this.reset();
        for (const [queue, s] of snap()?.stats ?? []) this.inc({ queue }, s.submitted);
      },
    });
    new Counter({
      name: 'trireme_jobs_total', help: 'Job attempts finished, by queue and outcome (completed, failed, cancelled).', labelNames: ['queue', 'outcome'], registers: [r],
      collect() {
        this.reset();
        for (const [queue, s] of snap()?.stats ?? []) {
          this.inc({ queue, outcome: 'completed' }, s.completed);
          this.inc({ queue, outcome: 'failed' }, Math.max(0, s.failed - s.cancelled));
          this.inc({ queue, outcome: 'cancelled' }, s.cancelled);
        }
      },
    });
    new Counter({
      name: 'trireme_cold_starts_total', help: 'Jobs that waited for a replica to start (runnable before the replica that ran them was ready), by queue.', labelNames: ['queue'], registers: [r],
      collect() {
        this.reset();
        for (const [queue, s] of snap()?.stats ?? []) this.inc({ queue }, s.cold);
      },
    });
    const perQueue = (pick: (s: QueueStats) => { counts: number[]; sum: number }) => () => [...this.snap?.stats ?? []].map(([queue, s]) => ({ labels: { queue }, ...pick(s) }));
    r.registerMetric(this.redisHistogram('trireme_job_duration_seconds', 'How long job attempts ran, by queue.', perQueue((s) => ({ counts: s.duration, sum: s.serviceMs / 1000 }))) as never);
    r.registerMetric(this.redisHistogram('trireme_job_queue_wait_seconds', 'How long jobs waited in their queue before their first attempt, by queue.', perQueue((s) => ({ counts: s.wait, sum: s.waitMs / 1000 }))) as never);
    // Warm runners (runners: in the config): what a cold start of one costs, why they end, and what is up now.
    r.registerMetric(this.redisHistogram('trireme_runner_startup_seconds', 'How long warm runner processes took from spawn to ready (interpreter, imports, model), by pool and runner.',
      () => (this.snap?.runners ?? []).map((x) => ({ labels: { pool: x.pool, runner: x.runner }, counts: x.startup, sum: x.startMs / 1000 }))) as never);
    new Counter({
      name: 'trireme_runner_exits_total', help: 'Warm runner processes that ended, by pool, runner and reason (max-tasks, max-memory, time-limit, cancel, crashed, start-failed, start-timeout, closed).',
      labelNames: ['pool', 'runner', 'reason'], registers: [r],
      collect() {
        this.reset();
        for (const x of snap()?.runners ?? []) for (const reason of RUNNER_EXIT_REASONS) if (x.exits[reason]) this.inc({ pool: x.pool, runner: x.runner, reason }, x.exits[reason]);
      },
    });
    new Gauge({
      name: 'trireme_runner_processes', help: 'Warm runner processes of live replicas and standbys, by pool, runner and state (starting, idle, busy).',
      labelNames: ['pool', 'runner', 'state'], registers: [r],
      collect() {
        this.reset();
        const s = snap();
        if (!s) return;
        for (const x of s.runners) for (const state of ['starting', 'idle', 'busy'] as const) this.set({ pool: x.pool, runner: x.runner, state }, 0);
        const holders = [...s.replicas, ...s.standbys.filter((b) => b.pool)];
        for (const h of holders) {
          for (const x of h.runners ?? []) {
            for (const state of ['starting', 'idle', 'busy'] as const) this.inc({ pool: h.pool, runner: x.name, state }, x[state]);
          }
        }
      },
    });
    this.loopDuration = new Histogram({
      name: 'trireme_controller_loop_duration_seconds', help: 'How long one reconcile pass of this process\'s controller took.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [r],
    });
    this.droppedWrites = new Counter({
      name: 'trireme_dropped_writes_total', help: 'Records this process\'s controller failed to write to Redis (scale events, decisions, learned memory), by what and pool.',
      labelNames: ['what', 'pool'], registers: [r],
    });
    this.notifications = new Counter({
      name: 'trireme_notifications_total', help: 'Notices this process\'s controller sent to webhooks, by webhook (its name, or #index) and outcome: delivered, or dropped after its retries or past the queue limit.',
      labelNames: ['webhook', 'outcome'], registers: [r],
    });
    new Gauge({
      name: 'trireme_controller_leader', help: '1 when this process\'s controller holds the lease and acts.', registers: [r],
      collect() { this.set(src.isLeader() ? 1 : 0); },
    });
    if (src.history) {
      const history = () => this.history;
      new Gauge({
        name: 'trireme_history_waiting_records', help: 'Run records waiting in Redis to be written to PostgreSQL (history).', registers: [r],
        collect() { const h = history(); if (h) this.set(h.waiting); else this.reset(); },
      });
      new Gauge({
        name: 'trireme_history_oldest_waiting_seconds', help: 'How long ago the oldest run record waiting for PostgreSQL finished (0 with none waiting); history is stuck when it keeps growing.', registers: [r],
        collect() { const h = history(); if (h) this.set(h.oldestFinishedAt === undefined ? 0 : Math.max(0, (Date.now() - h.oldestFinishedAt) / 1000)); else this.reset(); },
      });
      new Gauge({
        name: 'trireme_history_rejected_records', help: 'Run records PostgreSQL refused even cleaned, set aside in Redis (<prefix>:~history-rejected, the newest 10 000 kept).', registers: [r],
        collect() { const h = history(); if (h) this.set(h.rejected); else this.reset(); },
      });
    }
    new Gauge({
      name: 'trireme_scrape_redis_ok', help: '1 when the last scrape read Redis; 0 when it could not (the other trireme_ values are then empty).', registers: [r],
      collect() { this.set(snap() ? 1 : 0); },
    });
  }

  /** A histogram whose buckets come from Redis, in prom-client's metric shape: one series per row `rows` gives. */
  private redisHistogram(name: string, help: string, rows: () => { labels: Record<string, string>; counts: number[]; sum: number }[]) {
    return {
      name, help, type: 'histogram', aggregator: 'sum',
      get: async () => {
        const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
        for (const { labels, counts, sum } of rows()) {
          const cum = cumulative(counts);
          JOB_SECONDS_BUCKETS.forEach((le, i) => values.push({ labels: { ...labels, le }, value: cum[i], metricName: `${name}_bucket` }));
          values.push({ labels: { ...labels, le: '+Inf' }, value: cum[cum.length - 1], metricName: `${name}_bucket` });
          values.push({ labels, value: sum, metricName: `${name}_sum` });
          values.push({ labels, value: cum[cum.length - 1], metricName: `${name}_count` });
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values };
      },
      reset() {},
    };
  }

  /** The exposition text; Redis is read once for the whole scrape. */
  async render(): Promise<string> {
    // Scrapes run one after another: each reads its own snapshot and renders it before the next replaces it.
    const out = this.rendering.then(() => this.renderNow());
    this.rendering = out.catch(() => '');
    return out;
  }

  private rendering: Promise<unknown> = Promise.resolve();

  private async renderNow(): Promise<string> {
    try {
      [this.snap, this.eventCounts, this.history] = await Promise.all([this.src.inspector.snapshot(), this.src.inspector.store.eventCounts(), this.src.history?.()]);
      this.pools = await this.src.inspector.pools(this.snap);
    } catch {
      this.snap = undefined; this.pools = []; this.eventCounts = []; this.history = undefined;
    }
    return this.registry.metrics();
  }

  get contentType(): string { return this.registry.contentType; }
}
