/**
 * A signal source: what the controller reads of the pools of one kind (core/pool-kind.ts). BullMQ's queues for
 * Trireme's own pools (bullmq.ts); a Celery broker and its workers' events for Celery pools (celery.ts). Every source
 * fills the same QueueLoad; a source whose replicas do not heartbeat into Trireme's replica registry themselves (Celery
 * workers) says what it knows of them, and the controller writes it there, so that every face shows them alike.
 */
import type { Clock } from '../core/clock.js';
import type { PoolConfig } from '../core/config.js';
import type { QueueLoad, QueueTally, ReplicaInfo } from '../core/records.js';
import type { Logger } from '../system/log.js';
import type { Redis } from '../redis/connection.js';
import type { QueueDepth } from './bullmq.js';

/** A pool as a source reads it: its queues, and how far ahead delayed work counts (its startup time). */
export interface PoolRef { name: string; queues: string[]; horizonMs: number }

export interface PoolSource {
  /** Each pool's load; a pool whose read failed is missing from the map (the planning pass then holds it). */
  load(pools: PoolRef[], now: number): Promise<Map<string, QueueLoad>>;
  /** Arrivals of a pool its counters in Redis do not hold yet (tasks still waiting in another broker). */
  pending?(pool: string): number;
  /** Depths the faces cannot read from Redis themselves (another broker's), as of the last load, by queue or label. */
  depths?(): QueueDepth[];
  /**
   * The replicas of its pools as it knows them now, for sources whose replicas do not heartbeat into Trireme's
   * registry (Celery workers, from their events): the controller takes these rather than the registry's copy.
   */
  replicas?(): ReplicaInfo[];
  /** Replicas gone since the last call (their registry entries go). */
  gone?(): string[];
  /** Counters added up since the last call, by stats label (core/pool-kind.ts statsLabels). */
  tallies?(): Map<string, QueueTally>;
  /** Asks one of its replicas to stop taking work; false when it is not one of this source's. */
  drain?(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** What a source is built with: Trireme's Redis, the pools of its kind (in config order), a clock and a logger. */
export interface SourceContext {
  redis: Redis;
  prefix: string;
  /** Where queues are placed on a Redis Cluster (redis.hashTags). */
  hashTags?: Record<string, string>;
  pools: { name: string; config: PoolConfig }[];
  clock: Clock;
  logger: Logger;
}
