/**
 * What a replica talks to, as small interfaces passed in: where its jobs come from, where its heartbeats go, where
 * cancels come from, and the clock. replica/redis-parts.ts builds them on BullMQ and Redis; the unit tests hand a
 * replica in-memory ones and drive its drain, recycle and heartbeat rules in virtual time (test/unit/replica.test.ts).
 */
import type { Clock } from '../core/clock.js';
import type { ReplicaInfo } from '../core/records.js';
import type { Notice } from '../core/notices.js';
import type { QueueTally } from '../stores/registry.js';
import type { RunnerTally } from '../core/records.js';
import type { SlotGate } from './slots.js';

/**
 * A job as the replica sees it: BullMQ's Job has this shape (so it is passed as it is, with nothing made per job);
 * an in-memory source hands plain objects.
 */
export interface ReplicaJob {
  readonly id?: string;
  readonly name: string;
  readonly data: any;
  /** Runs before this one. */
  readonly attemptsMade: number;
  /** When it was submitted (ms). */
  readonly timestamp: number;
  readonly opts: { attempts?: number; delay?: number };
  /** The BullMQ job scheduler that made it, for a scheduled job. */
  readonly repeatJobKey?: string;
  log(line: string): Promise<unknown>;
  updateProgress(value: number | object): Promise<unknown>;
  getChildrenValues(): Promise<Record<string, unknown>>;
}

/** Thrown by the replica's handler: the job goes back to its queue, its attempt not counted. */
export class HandBack extends Error {
  constructor(why: string) { super(why); this.name = 'HandBack'; }
}

/** Thrown by the replica's handler: every slot is taken; the job comes back after `ms`. */
export class Bounce extends Error {
  constructor(readonly ms: number) { super(`every slot is taken: back in ${ms} ms`); this.name = 'Bounce'; }
}

/** Thrown by the replica's handler: the job fails with no retry (an unknown task, an invalid payload, a cancel). */
export class Unrecoverable extends Error {
  constructor(message: string) { super(message); this.name = 'Unrecoverable'; }
}

/** Whether an error fails its job for good: the replica's own, or one a task threw in BullMQ's words. */
export const isUnrecoverable = (e: unknown): boolean => e instanceof Unrecoverable || (e as Error | undefined)?.name === 'UnrecoverableError';

/** The replica's handler: runs one job of `queue`; throws HandBack, Bounce or Unrecoverable to say what to do with it. */
export type JobHandler = (queue: string, job: ReplicaJob) => Promise<unknown>;

/** Where a replica's jobs come from: one consumer per queue of its pool, sharing the pool's slots through the gate. */
export interface JobSource {
  /** Connects a consumer per queue, attached to the gate; none takes a job before `run()`. */
  prepare(queues: string[], gate: SlotGate, handler: JobHandler): Promise<void>;
  run(): void;
  /** Takes no new job; jobs already handed out go on. */
  pause(): Promise<void>;
  close(): Promise<void>;
}

/** What a heartbeat may bring back: a request to drain (and, with `hold`, to wait to be removed). */
export type ReplicaControl = 'drain' | 'drain:hold';

/** Where a replica's heartbeats go (the replica registry), with its tallies since the last one. */
export interface HeartbeatSink {
  beat(info: ReplicaInfo, tallies: Map<string, QueueTally>, runners: Map<string, RunnerTally>): Promise<ReplicaControl | string | null>;
  remove(id: string): Promise<void>;
  /** Leaves a notice for the controller to send on (a drain that ran out of grace). */
  notice?(n: Notice): Promise<void>;
}

/** Where cancels of running jobs come from (a Redis channel every replica listens to). */
export interface CancelFeed {
  listen(onCancel: (jobId: string) => void): Promise<void>;
  close(): void;
}

/** What a replica's process tree uses, read from the machine (system/process-tree.ts, system/gpu-memory.ts). */
export interface UsageProbe {
  /** CPU seconds and resident memory of `pid` and its descendants; undefined where they cannot be read. */
  tree(pid: number): Promise<{ cpuSeconds: number; rss: number; rootRss: number; processes: number; pids: number[] } | undefined>;
  /** GPU memory by pid, bytes; undefined where no tool tells. */
  gpu?(): Promise<Map<number, number> | undefined>;
}

/** Everything a replica is built with besides its project and pool. */
export interface ReplicaParts {
  clock: Clock;
  source: JobSource;
  heartbeats: HeartbeatSink;
  cancels: CancelFeed;
  /** With history configured: where each run's record goes before its outcome is written. */
  outbox?: {
    begin(queue: string, job: ReplicaJob, began: number): void;
    record(queue: string, job: ReplicaJob, outcome: 'completed' | 'failed' | 'cancelled' | 'handed-back', error: unknown, began: number, ended: number): Promise<void>;
  };
  /** Reads what the replica's process tree uses; without it the replica reports no CPU or memory figures. */
  usage?: UsageProbe;
  /** Publishes the task manifest (what a routes-only client reads). */
  publishManifest?(): Promise<void>;
  /** Whether the store answers now: a drain skips writes only the store needs while it is away. */
  connected(): boolean;
  /** Closes the parts' own connections (after the source and the cancel feed). */
  close(): Promise<void>;
}

/** Resolves with `promise`'s value, or with `fallback` after `ms` of `clock`'s time; never rejects. */
export async function within<T>(clock: Clock, promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: { cancel(): void } | undefined;
  try {
    return await Promise.race([
      promise.catch(() => fallback),
      new Promise<T>((resolve) => { timer = clock.setTimeout(() => resolve(fallback), ms); }),
    ]);
  } finally {
    timer?.cancel();
  }
}

/** Calls `fn` every `ms` of `clock`'s time until the returned stop is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let timer: { cancel(): void } | undefined;
  let stopped = false;
  const next = () => { timer = clock.setTimeout(() => { if (stopped) return; fn(); next(); }, ms); };
  next();
  return () => { stopped = true; timer?.cancel(); };
}
