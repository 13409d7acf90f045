/**
 * The records Trireme keeps beside BullMQ's (in Redis): what replicas say of themselves, scale events, manual
 * overrides, the controller's last decisions, the counters added up per queue. Types (and the tallies' two helpers),
 * shared by the side that writes them (stores/, replica/, signals/) and the sides that read them (control/, the faces).
 */

export type ReplicaState = 'starting' | 'idle' | 'busy' | 'draining';

/** A replica as it reports itself in its heartbeats. */
export interface ReplicaInfo {
  id: string;
  pool: string;
  host: string;
  pid: number;
  /** Set by drivers that know it (a container or unit name). */
  container?: string;
  state: ReplicaState;
  startedAt: number;
  lastActivity: number;
  jobsDone: number;
  running: number;
  concurrency: number;
  /** With storage.dir set: "ok", or why this replica cannot write it (doctor reports it per host). */
  storage?: string;
  /**
   * What the replica and everything it started (isolated runners, command programs) use, read from /proc every few
   * seconds (replica/usage.ts); absent where it cannot be read. CPU seconds since the replica started.
   */
  cpuSeconds?: number;
  /** CPU over the last sample, percent of one core (past 100 when several processes of the tree are busy). */
  cpuPercent?: number;
  /** Resident memory of the tree, bytes. */
  rss?: number;
  /** GPU memory its processes hold, bytes, where nvidia-smi tells (pools with GPUs). */
  gpuMemory?: number;
  /** Processes in the tree, the replica included. */
  processes?: number;
  /** Its warm runners (`runners:`), one entry per runner it keeps. */
  runners?: RunnerStatus[];
}

/** One warm runner of a replica (or of a standby): its processes and what its start-up costs. */
export interface RunnerStatus {
  name: string;
  /** Processes it may keep (the pool's concurrency). */
  size: number;
  starting: number;
  idle: number;
  busy: number;
  /** Processes that said ready, and starts that failed (exited, timed out or could not run), since the replica began. */
  starts: number;
  failedStarts: number;
  /** Milliseconds from spawn to `ready` of its last process to start: interpreter, imports, model. */
  lastStartupMs?: number;
  /** Why its last start failed, while the next has not succeeded. */
  lastError?: string;
}

/** Why a runner process ended: the reasons `trireme_runner_exits_total` counts. */
export const RUNNER_EXIT_REASONS = ['max-tasks', 'max-memory', 'time-limit', 'cancel', 'crashed', 'start-failed', 'start-timeout', 'closed'] as const;
export type RunnerExitReason = typeof RUNNER_EXIT_REASONS[number];

/** What a replica adds up for one runner between heartbeats: start-ups (count, time, per-bucket counts) and exits. */
export interface RunnerTally {
  starts: number;
  startMs: number;
  /** Per-bucket counts of start-up seconds (core/histogram.ts). */
  startup: number[];
  exits: Partial<Record<RunnerExitReason, number>>;
}

export function emptyRunnerTally(): RunnerTally {
  return { starts: 0, startMs: 0, startup: [], exits: {} };
}

/** Adds `add` into `into` (a heartbeat that did not get through keeps its counts for the next). */
export function addRunnerTally(into: RunnerTally, add: RunnerTally): void {
  into.starts += add.starts;
  into.startMs += add.startMs;
  add.startup.forEach((n, i) => { into.startup[i] = (into.startup[i] ?? 0) + (n ?? 0); });
  for (const [k, n] of Object.entries(add.exits) as [RunnerExitReason, number][]) into.exits[k] = (into.exits[k] ?? 0) + n;
}

/**
 * One run of a job, as a replica saw it: what history (PostgreSQL) records. Written to Redis by the replica before
 * the job's outcome is, so that a run is never finished without its record.
 */
export interface RunRecord {
  jobId: string; task: string; queue: string; pool: string; replica: string; host: string;
  attempt: number; maxAttempts: number;
  submittedAt: number; delay: number; startedAt: number; finishedAt: number;
  /** `lost`: its replica died or was cut off mid-run; recorded by the replica that took the job over (ends then). */
  outcome: 'completed' | 'failed' | 'cancelled' | 'handed-back' | 'lost';
  error?: string;
  /** The job's last run: it completed, was cancelled, or failed with no retry left. */
  final: boolean;
  /** The pool's pricePerHour times the run's share of one replica (its duration over the pool's concurrency). */
  cost: number;
}

/**
 * A job a pool ran, as job history (PostgreSQL) or Redis remembers it: what `trireme tune` replays. `service` is the
 * time its runs took (seconds); `delay` how long after its submit it was meant to become runnable (ms).
 */
export interface RanJob { task: string; queue: string; submittedAt: number; delay: number; service: number; priority?: number }

/** One run of a scheduled job, as its replica saw it: what `trireme schedules` shows as the last run. */
export interface ScheduledRun { jobId: string; startedAt: number; finishedAt: number; outcome: string }

export interface ScaleEvent { at: number; pool: string; from: number; to: number; reason: string; manual?: boolean }
export interface Override { paused: boolean; replicas?: number; at: number }
export interface StoredDecision {
  at: number; pool: string; desired: number; current: number; direction: 'up' | 'down' | 'hold'; reason: string;
  cooldownRemaining: number; min: number; max: number; leader: string; health?: string;
  /** Capacity or the budget held the pool below what its load needs (the reason says `capacity-starved`). */
  starved?: boolean;
  /** Scale-ups within the last hour that came soon after a scale-down (the flap guard backs off from 2 on). */
  flapsLastHour?: number;
  /** Jobs per second in (submitted) and out (finished), and mean service seconds, as the controller measured them. */
  arrivalRate: number; completionRate: number; serviceTime: number;
}

/**
 * Counters a replica adds up between heartbeats, per queue: outcomes, service time, and per-bucket counts of job
 * durations and queue waits (see core/histogram.ts; `cancelled` jobs count as failed too).
 */
export interface QueueTally {
  completed: number; failed: number; cancelled: number; serviceMs: number;
  duration: number[]; waits: number; waitMs: number; wait: number[];
  /** First attempts that waited for their replica to start. */
  cold: number;
  /** Arrivals, where the one tallying sees them (a Celery pool's tasks as its workers first receive them). */
  submitted?: number;
  /** The last run of each job schedule seen since the last heartbeat, by BullMQ scheduler id (jobs/schedules.ts). */
  scheduled?: Record<string, ScheduledRun>;
}

export function emptyTally(): QueueTally {
  return { completed: 0, failed: 0, cancelled: 0, serviceMs: 0, duration: [], waits: 0, waitMs: 0, wait: [], cold: 0 };
}

/** Adds `add` into `into`. */
export function addTally(into: QueueTally, add: QueueTally): void {
  into.completed += add.completed; into.failed += add.failed; into.cancelled += add.cancelled; into.serviceMs += add.serviceMs;
  into.waits += add.waits; into.waitMs += add.waitMs; into.cold += add.cold;
  if (add.submitted) into.submitted = (into.submitted ?? 0) + add.submitted;
  add.duration.forEach((n, i) => { into.duration[i] = (into.duration[i] ?? 0) + n; });
  add.wait.forEach((n, i) => { into.wait[i] = (into.wait[i] ?? 0) + n; });
  for (const [id, run] of Object.entries(add.scheduled ?? {})) {
    // Tallies put back after a failed heartbeat are older than the ones counted since: the later run wins.
    if (!into.scheduled?.[id] || into.scheduled[id].startedAt < run.startedAt) (into.scheduled ??= {})[id] = run;
  }
}

/** One queue's jobs by state, as the faces show them (BullMQ's, or another broker's as the controller read them). */
export interface QueueDepth {
  queue: string; waiting: number; prioritized: number; active: number; delayed: number; delayedDue: number; failed: number; completed: number;
  /**
   * When the queue's longest-waiting runnable job became runnable (epoch ms), or undefined when none waits. A signal
   * source that cannot tell (a broker that keeps no enqueue time) leaves it undefined too: the policies then go on
   * the depth and the measured rates alone.
   */
  oldestWaitingSince?: number;
}

/** One pool's queues as the controller reads them. */
export interface QueueLoad {
  waiting: number; running: number; delayedDue: number;
  /** How long its longest-waiting job has been runnable, ms (0 when none waits); undefined when the source cannot tell. */
  oldestWait?: number;
}

/** NUL and UTF-16 halves without their other half: text PostgreSQL (jsonb, text) refuses. */
// eslint-disable-next-line no-control-regex -- NUL is what it looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text as PostgreSQL can store it: NUL and lone surrogates become U+FFFD (the replacement character). */
export function storableText(s: string): string {
  return s.replace(UNSTORABLE, '\uFFFD');
}

/** A record with every string in it made storable (storableText), nested ones included. */
export function storable<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v)])) as T;
  return value;
}
