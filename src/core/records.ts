/**
 * The records Trireme keeps beside BullMQ's (in Redis): what replicas say of themselves, scale events, manual
 * overrides, the controller's last decisions. Types only, shared by the side that writes them (stores/, replica/) and the
 * sides that read them (control/, the faces).
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
