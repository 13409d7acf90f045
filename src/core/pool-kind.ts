/**
 * Pool kinds: whose replicas a pool runs. Trireme's own (`trireme worker --pool P` on BullMQ queues) or Celery
 * workers (a `celery:` block; their broker is Redis or RabbitMQ). The planning pass and the controller never ask which
 * kind a pool is: they see its observation, filled by its kind's signal source (signals/index.ts), and its replicas,
 * started by its driver from the command its kind gives here. A new kind is an entry below (and a source there).
 */
import { celeryCommand, celeryStatsLabel, CELERY_REFUSES, type CeleryConfig } from './celery.js';

/** What a replica of a pool runs: `entrypoint` replaces the image's own (Trireme's `trireme`) when set. */
export interface ReplicaCommand {
  entrypoint?: string[];
  args: string[];
  /** Added to the pool's env. */
  env: Record<string, string>;
  /** Sent when the pool's drainGrace is over and the replica still runs (Celery's cold shutdown); undefined: the replica keeps its grace itself. */
  afterGrace?: NodeJS.Signals;
  /** The replica's working folder: the config's (a Celery app is imported from there); undefined: the driver's. */
  inConfigDir?: boolean;
}

/** Where a replica's command is being written: the config as the replica sees it, its id, its host name. */
export interface CommandContext { configPath: string; id?: string; host?: string }

/** The fields of a pool that the kinds read (a structural slice of PoolConfig, so that config.ts can import this). */
export interface KindPool {
  queues: string[]; concurrency: number; timeLimit?: number; maxTasksPerChild?: number; celery?: CeleryConfig;
}

export interface PoolKind {
  /** The config block that makes a pool this kind (`celery`); the kind without one is the default. */
  block?: string;
  /** Its queues are Trireme's own (BullMQ): Trireme's client submits to them and the jobs views list their jobs. */
  ownQueues: boolean;
  /** What the jobs views say instead of listing its jobs. */
  jobsElsewhere?: string;
  /** Whether the local driver may keep a standby process for it. */
  standby: boolean;
  /** Pool fields this kind refuses, with what to do instead. */
  refuses: Record<string, string>;
  /** The labels its task counters are kept under in Redis (queue names for Trireme's). */
  statsLabels(p: KindPool): string[];
  command(pool: string, p: KindPool, at: CommandContext): ReplicaCommand;
}

export const POOL_KINDS: Record<string, PoolKind> = {
  trireme: {
    ownQueues: true,
    standby: true,
    refuses: {},
    statsLabels: (p) => p.queues,
    command: (pool, _p, at) => ({ args: ['-c', at.configPath, 'worker', '--pool', pool, ...(at.id ? ['--id', at.id] : [])], env: {} }),
  },
  celery: {
    block: 'celery',
    ownQueues: false,
    jobsElsewhere: "a Celery pool's tasks are listed by Celery's own tools (Flower, celery inspect); Trireme shows its queues, workers and scaling",
    standby: false,
    refuses: CELERY_REFUSES,
    statsLabels: (p) => [celeryStatsLabel(p.queues)],
    command: (pool, p, at) => ({ ...celeryCommand(p.celery!, p, `${at.id ?? pool}@${at.host ?? '%h'}`), afterGrace: 'SIGQUIT', inConfigDir: true }),
  },
};

/** The kind a pool as written is (the first kind whose block it has), for the schema. */
export function kindOfRaw(pool: Record<string, unknown>): string {
  return Object.entries(POOL_KINDS).find(([, k]) => k.block !== undefined && pool[k.block] !== undefined)?.[0] ?? 'trireme';
}

/** A pool's kind entry. */
export const poolKind = (p: { kind: string }): PoolKind => POOL_KINDS[p.kind];
