/**
 * Where replicas live. A driver executes and never decides: the controller tells it how many to start and which to
 * stop. One interface, one file per implementation, one line in the registry (drivers/index.ts).
 */

export interface DriverReplica {
  id: string;
  pool: string;
  /** Process id, container or unit name, as the driver knows it. */
  handle: string;
  startedAt: number;
  /** `stopping`: asked to drain, not gone yet. */
  phase: 'running' | 'stopping';
}

export interface PoolHealth {
  /** `crash-loop`: replicas keep exiting soon after start; starts are held back with a growing delay. */
  status: 'ok' | 'crash-loop' | 'backoff';
  message?: string;
  restarts: number;
}

export interface DriverCapabilities {
  /** Can stop one chosen replica (local, systemd) rather than only set a count (compose, kubernetes). */
  choosesVictim: boolean;
  /** Knows when a replica is ready, beyond the registry's heartbeats. */
  knowsReadiness: boolean;
}

export interface Driver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  list(pool: string): DriverReplica[] | Promise<DriverReplica[]>;
  /** Starts up to `count` replicas; returns how many it started (fewer while a pool is in crash backoff). */
  start(pool: string, count: number): Promise<number>;
  /** Drains one replica: it stops taking jobs and exits once its running jobs finish or `graceMs` passes. */
  stop(replicaId: string, graceMs: number): Promise<void>;
  health(pool: string): PoolHealth;
  /** Drains and stops everything this driver started. */
  close(graceMs: number): Promise<void>;
}
