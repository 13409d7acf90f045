/**
 * One replica of a pool, described once for every driver: the command, its environment, what it needs, how long
 * it may take to stop, and which exit means "restart me, I recycled". The local driver spawns it; the exporters
 * write it into Compose services, Kubernetes Deployments and systemd units, so a replica runs the same way wherever
 * it lives. The command is the pool kind's (core/pool-kind.ts): `trireme worker --pool P`, or a Celery worker.
 */
import type { Project } from '../core/project.js';
import { poolKind } from '../core/pool-kind.js';
import { RECYCLE_EXIT_CODE } from '../core/replica.js';

/** What a draining replica may need beyond its grace to hand its jobs back and leave. */
export const STOP_SLACK_MS = 10_000;

export interface ReplicaSpec {
  pool: string;
  /** The program and its first arguments when the replica is not `trireme` (a Celery worker: python3 -m celery). */
  entrypoint?: string[];
  /** Arguments of the entrypoint, or of the `trireme` command: `-c CONFIG worker --pool POOL ...`. */
  args: string[];
  /** The image the container drivers run it from, when the pool names its own (`image:`). */
  image?: string;
  /** The pool's own environment, then what the driver adds (the Redis URL, a parent to watch). */
  env: Record<string, string>;
  resources: { cpu: number; memory: number; gpu: number };
  /** A memory limit for the engine (cgroup): the pool's maxMemory when set. */
  memoryLimit?: number;
  /** How long the pool lets a draining replica finish its jobs. */
  drainGraceMs: number;
  /** How long a stop may take before the engine kills the replica: the grace plus time to hand jobs back. */
  stopGraceMs: number;
  /** The exit code of a replica that drained to recycle itself: the engine restarts it, it did not fail. */
  recycleExitCode: number;
  /**
   * What to send once drainGrace is over and the replica still runs: a Celery worker's SIGTERM is its warm shutdown,
   * which waits for its tasks however long they take, and SIGQUIT its cold one. Undefined: the replica keeps its
   * grace itself (Trireme's hands its jobs back).
   */
  afterGrace?: NodeJS.Signals;
  /** Run in the config's folder (a Celery app is imported from there). */
  inConfigDir: boolean;
}

export interface SpecOptions {
  /** The config file as the replica sees it (a path inside a container, on another host). */
  configPath?: string;
  redisUrl?: string;
  /** The process a local replica watches: when it dies, the replica drains and exits. */
  parentPid?: number;
  /** The replica id (the local driver names its replicas). */
  id?: string;
  /** The host name a replica that names itself by host uses (a Celery node, POOL-ID@HOST); default: its own (`%h`). */
  host?: string;
  /** More `trireme worker` arguments (for Trireme's own replicas). */
  extraArgs?: string[];
  extraEnv?: Record<string, string>;
}

export function replicaSpec(project: Project, pool: string, opts: SpecOptions = {}): ReplicaSpec {
  const p = project.config.pools[pool];
  if (!p) throw new Error(`no pool "${pool}"`);
  const cmd = poolKind(p).command(pool, p, { configPath: opts.configPath ?? project.configPath ?? 'trireme.yml', id: opts.id, host: opts.host });
  const env: Record<string, string> = { ...p.env, ...cmd.env, ...opts.extraEnv };
  if (opts.redisUrl) env.TRIREME_REDIS_URL = opts.redisUrl;
  if (opts.parentPid) env.TRIREME_PARENT_PID = String(opts.parentPid);
  return {
    pool,
    ...(cmd.entrypoint ? { entrypoint: cmd.entrypoint } : {}),
    // extraArgs are `trireme worker`'s: a replica of another program does not take them.
    args: [...cmd.args, ...(cmd.entrypoint ? [] : opts.extraArgs ?? [])],
    ...(p.image ? { image: p.image } : {}),
    env,
    resources: { ...p.resources },
    memoryLimit: p.maxMemory,
    drainGraceMs: p.drainGrace,
    stopGraceMs: p.drainGrace + STOP_SLACK_MS,
    recycleExitCode: RECYCLE_EXIT_CODE,
    ...(cmd.afterGrace ? { afterGrace: cmd.afterGrace } : {}),
    inConfigDir: cmd.inConfigDir ?? false,
  };
}

/** The pools that run on driver `kind`, in config order (each driver's settings module reads their settings). */
export function poolsOn(project: Project, kind: string): string[] {
  return Object.entries(project.config.pools).filter(([, p]) => p.driver.kind === kind).map(([name]) => name);
}
