/**
 * What the controller reads and writes beside its drivers, as small interfaces passed in, the way the HPA's replica
 * calculator takes its metrics client and pod lister: the lease, the replica directory, the records the faces read
 * (overrides, decisions, scale events) and the queues' signals. Redis implements them (control/redis-state.ts);
 * tests hand the controller in-memory ones and drive it in virtual time.
 */
import type { Counters } from './rates.js';
import type { Override, QueueLoad, ReplicaInfo, ScaleEvent, StoredDecision } from './records.js';
import type { Notice } from './notices.js';

export type { Override, QueueLoad, ReplicaInfo, ReplicaState, ScaleEvent, StoredDecision } from './records.js';

/** Only the holder acts; a standby takes over within a TTL after the holder dies. */
export interface LeaseLike {
  readonly isHeld: boolean;
  /** Takes or renews the lease; whether this controller holds it now. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface ReplicaDirectory {
  list(): Promise<ReplicaInfo[]>;
  /**
   * Asks a replica to drain. `hold`: once drained it stays, taking no job, until its engine removes it (a
   * container or pod whose exit would only make the engine restart it); otherwise it exits.
   */
  requestDrain(id: string, opts?: { hold?: boolean }): Promise<void>;
  /**
   * Before a driver stops a replica: where its signal source can tell it to stop taking work (a Celery worker:
   * cancel_consumer), it does so and waits for it to answer, so that nothing reaches the replica between the plan's
   * look and the driver's signal. Nothing to do for a replica that drains on the signal alone (Trireme's own).
   */
  quiesce?(id: string): Promise<void>;
}

export interface ControlRecords {
  overrides(): Promise<Record<string, Override>>;
  addEvent(e: ScaleEvent): Promise<void>;
  saveDecisions(decisions: StoredDecision[]): Promise<void>;
  /** What each pool's autoscaler learned (core/autoscaler.ts `LearnedMemory`), by pool, as the last leader left it. */
  learned(): Promise<Record<string, unknown>>;
  saveLearned(learned: Record<string, unknown>): Promise<void>;
  /** Records `id` as the leader; returns the one recorded before (the controller whose lease this one took over). */
  swapLeader?(id: string): Promise<string | null>;
  /** Takes what replicas reported for the controller to pass on (drain timeouts), oldest first. */
  takeNotices?(): Promise<Notice[]>;
}

export interface QueueSignals {
  /**
   * Depths of each pool's queues and how long their oldest job has waited (`oldestWait`, left out by a source whose
   * broker keeps no enqueue time); a pool whose read failed is missing from the map.
   */
  load(pools: { name: string; queues: string[]; horizonMs: number }[], now: number): Promise<Map<string, QueueLoad>>;
  /** Arrival and completion counters of each pool (cumulative). */
  counters(pools: { name: string; queues: string[] }[]): Promise<Map<string, Counters>>;
  /** Calls `fn` with a queue's name when a submitter says jobs arrived on it. */
  onWake(fn: (queue: string) => void): Promise<void>;
}

export interface ControllerState {
  lease: LeaseLike;
  replicas: ReplicaDirectory;
  records: ControlRecords;
  queues: QueueSignals;
  close(): Promise<void>;
}
