/**
 * Where replicas live. A driver executes and never decides: the planning pass (core/plan.ts) says how many to start
 * and which replicas to take away. One interface, one file per implementation (a folder for a driver with settings
 * and exporters: kubernetes/, compose/, systemd/), one line in the registry (drivers/index.ts).
 *
 * Two ways to scale in, a driver's `scaleIn`, and the contract is a union on it:
 *  - `stop-replicas` (local, systemd): the driver stops the replicas the plan picked; each drains first.
 *  - `set-count` (compose, kubernetes): the engine removes replicas itself when its count is lowered. The plan
 *    first drains the idle victims (they stop taking jobs and wait to be removed), then `setCount` makes those the
 *    ones the engine removes (pod-deletion-cost, removing drained containers) and lowers the count.
 */

export interface DriverReplica {
  id: string;
  pool: string;
  /** Process id, container or unit name, as the driver knows it. */
  handle: string;
  /** The host name the replica reports in its heartbeats (pod name, container id, machine), to match registry entries. */
  host?: string;
  /** The container the replica runs in (an id, at least its first 12 characters), to match registry entries. */
  container?: string;
  startedAt: number;
  /** `stopping`: asked to drain or being removed, not gone yet. */
  phase: 'running' | 'stopping';
}

export interface PoolHealth {
  /**
   * `crash-loop`: replicas keep exiting soon after start; starts are held back with a growing delay. `error`: the
   * engine refused or could not be reached (the message says what to fix). `degraded`: some hosts are unreachable.
   */
  status: 'ok' | 'crash-loop' | 'backoff' | 'error' | 'degraded';
  message?: string;
  restarts: number;
}

/** How a kind of driver takes replicas away and where they run: what the planning pass needs to know of it. */
export interface DriverTraits {
  scaleIn: 'stop-replicas' | 'set-count';
  /** `this-host`: its replicas run on the controller's machine and share its capacity (local); else `elsewhere`. */
  placement: 'this-host' | 'elsewhere';
}

/** What the controller hands a `set-count` driver on scale-down. */
export interface ScaleIn {
  /** Idle replicas the controller drained: the ones the engine should remove. */
  victims: DriverReplica[];
  /** Replicas running jobs: the ones the engine must keep. */
  busy: DriverReplica[];
  graceMs: number;
}

interface DriverBase {
  readonly name: string;
  readonly placement: DriverTraits['placement'];
  list(pool: string): Promise<DriverReplica[]>;
  /** Starts up to `count` more replicas; returns how many it started (fewer while a pool is in crash backoff). */
  start(pool: string, count: number): Promise<number>;
  health(pool: string): PoolHealth;
  /** Housekeeping on each controller pass while this controller leads (standbys, host checks). */
  maintain?(): Promise<void> | void;
  /**
   * Lets go: the local driver drains and stops what it started, each replica within its pool's drainGrace and at most
   * `graceMs`; remote drivers leave their replicas running.
   */
  close(graceMs: number): Promise<void>;
  /** While closing, stop now: replicas hand their running jobs back to their queues at once and exit (a second Ctrl-C). */
  hurry?(): void;
}

/** A driver that stops the replicas it is told to. */
export interface StopReplicasDriver extends DriverBase {
  readonly scaleIn: 'stop-replicas';
  /** Drains one replica, which exits once its running jobs finish or `graceMs` passes. */
  stop(replicaId: string, graceMs: number): Promise<void>;
}

/** A driver whose engine keeps a count of replicas. */
export interface SetCountDriver extends DriverBase {
  readonly scaleIn: 'set-count';
  /**
   * The engine keeps `count` replicas of the pool, removing the victims first. Returns a note when the engine may
   * remove others than the victims (Compose removes the highest-numbered containers).
   */
  setCount(pool: string, count: number, scaleIn: ScaleIn): Promise<{ note?: string }>;
}

export type Driver = StopReplicasDriver | SetCountDriver;

/** What every driver is built with. */
export interface DriverContext {
  project: import('../core/project.js').Project;
  /** The pools this driver serves (those of the config that name its kind). */
  pools: string[];
  redisUrl: string;
  clock: import('../core/clock.js').Clock;
  logger: import('../system/log.js').Logger;
  /** Extra environment for the replicas a local driver starts (serve's config snapshot). */
  childEnv?: Record<string, string>;
  /** GPU indices of this machine, for the local driver. */
  gpus?: number[];
  /** Extra `worker` arguments for locally started replicas (tests shorten locks and heartbeats). */
  workerArgs?: string[];
}

/**
 * A kind of driver, as the registry lists it: the schemas of its settings (for one pool, under `pools.X.driver`,
 * and shared by its pools, under `drivers.<kind>`), how to build it, and its exporters. Building may load heavy
 * clients; importing the entry must not, since every config load reads the schemas. The config parser checks the
 * settings against the schemas; the driver and its exporters read them, typed, from the project's config.
 */
export interface DriverKind extends DriverTraits {
  /**
   * The standby group a pool's replicas start from, for a driver that keeps standbys (processes with everything
   * loaded that become a replica at once), or undefined when the pool keeps none. The simulator models them from it.
   */
  standbyGroup?(config: import('../core/config.js').Config, pool: string): string | undefined;
  pool: import('zod').ZodType;
  shared: import('zod').ZodType;
  create(ctx: DriverContext): Promise<Driver>;
  /**
   * The deployment files it can write, by the name `trireme export NAME` takes (kubernetes: kubernetes, keda, hpa).
   * They read the driver's settings through its own settings module, so the files and the driver agree.
   */
  exports?: Record<string, import('./export.js').Exporter>;
}
