/**
 * The config model: the zod schema that validates `trireme.yml` and gives the TypeScript types (field types in
 * config-fields.ts, the scaling block in scaling-config.ts). Cross-field rules (max >= min, every queue served) live
 * in the superRefine at the end so that each problem is reported with its path.
 */
import { z } from 'zod';
import { count, duration, name, size } from './config-fields.js';
import { scalingSchema } from './scaling-config.js';
import { ConfigError } from './errors.js';
import { jobScheduleSchema } from './job-schedule.js';
import { rateLimitSchema } from './rate-limit.js';
import { notifySchema } from './notices.js';
import { redisSchema } from './redis-config.js';
import { celeryBlock } from './celery.js';
import { kindOfRaw, POOL_KINDS } from './pool-kind.js';

export { ConfigError };
export { scalingSchema, resolveScaling, type ScalingInput, type ResolvedScaling } from './scaling-config.js';

/** A pool's driver: its kind and the settings for this pool (checked against the driver's own schema). */
export interface DriverRef { kind: string; settings: Record<string, unknown> }
const withoutKind = (d: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'kind'));

/** A driver's settings schemas, given by the driver registry: its settings for one pool, and those its pools share. */
export type DriverSchemas = Record<string, { pool: z.ZodType; shared: z.ZodType }>;

const poolFields = z.strictObject({
  /** The BullMQ queues a pool of Trireme's own replicas serves. */
  queues: z.array(name).min(1, 'a pool serves at least one queue').optional(),
  /** A pool of Celery workers instead (core/celery.ts): their broker, app and queues. */
  celery: celeryBlock.optional(),
  /** The image the container drivers and `export` run this pool's replicas from; default: the deployment's (export --image). */
  image: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).default(1),
  /** in-process by default (applied below, so that a kind that refuses it can tell whether it was written). */
  isolation: z.enum(['in-process', 'thread', 'process']).optional(),
  timeLimit: duration.optional(),
  maxTasksPerChild: z.number().int().positive().optional(),
  maxMemory: size.optional(),
  /** How long a draining replica may finish running jobs before it hands them back. */
  drainGrace: duration.default(30_000),
  resources: z.strictObject({ cpu: z.number().positive().default(1), memory: size.default(512 * 1024 ** 2), gpu: count.default(0) }).default({ cpu: 1, memory: 512 * 1024 ** 2, gpu: 0 }),
  env: z.record(z.string(), z.string()).default({}),
  pricePerHour: z.number().min(0).default(0),
  /** Higher wins when a shared budget cannot give every pool what it asks. */
  priority: z.number().int().default(0),
  /**
   * Keep a standby process (Node, BullMQ and the task modules loaded) that becomes this pool's replica the moment one
   * is needed. Default: on for pools whose min is 0, where every first job would otherwise wait for a cold start.
   */
  standby: z.boolean().optional(),
  /**
   * Where the pool's replicas live: `local` (child processes of serve, the default), `compose`, `kubernetes`,
   * `systemd`; or `{ kind, ...settings }` with the driver's settings for this pool (docs/deploy.md).
   */
  driver: z.union([z.string().min(1), z.looseObject({ kind: z.string().min(1, 'name the driver: local, compose, kubernetes or systemd') })]).default('local')
    .transform((d): DriverRef => (typeof d === 'string' ? { kind: d, settings: {} } : { kind: d.kind, settings: withoutKind(d) })),
  scaling: scalingSchema.prefault({}),
});

/** Which kind a pool is (core/pool-kind.ts), from the block it has; the fields that kind refuses are said by path. */
function checkKind(raw: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const kind = kindOfRaw(raw);
  for (const [field, instead] of Object.entries(POOL_KINDS[kind].refuses)) {
    if (raw[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `not for a ${kind} pool: ${instead}` });
  }
  if (raw.queues === undefined && POOL_KINDS[kind].ownQueues) {
    ctx.addIssue({ code: 'custom', path: ['queues'], message: 'give the queues the pool serves (queues: [work]), or a celery block for a pool of Celery workers (docs/celery.md)' });
  }
}

// Checked even when a field failed, so that one pass lists every problem.
export const poolSchema = poolFields.superRefine((p, ctx) => checkKind(p as Record<string, unknown>, ctx), { when: () => true }).transform((p) => {
  const kind = kindOfRaw(p);
  // A pool's queues, whatever its kind: routing, the simulator and the faces read them.
  return {
    ...p, kind, queues: p.queues ?? p.celery?.queues ?? [], isolation: p.isolation ?? 'in-process' as const,
    standby: POOL_KINDS[kind].standby ? p.standby : false,
  };
});

const commandTask = z.strictObject({
  /** argv: the program and its arguments; the payload arrives as JSON on stdin. */
  command: z.array(z.string().min(1)).min(1, 'give the program and its arguments, e.g. [python3, scripts/report.py]'),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).default({}),
  timeLimit: duration.optional(),
  retries: count.default(0),
  queue: name.optional(),
});

/**
 * Warm runners (docs/runners.md): long-lived programs that load a team's code once and run its tasks one job at a
 * time over the runner protocol. Each runner is given as `command` (any program that speaks the protocol) or `python`
 * (task modules for the Python runner Trireme ships), with the task names it serves. Its own limits override the
 * pool's for its processes; the pool that serves a task's queue runs it, whatever that pool's isolation.
 */
const runnerTaskName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a task name starts with a letter or digit and uses letters, digits, ".", "_", ":" or "-"');
/** One task of a runner: a name, with its own retries, time limit and queue when set. */
export interface RunnerTaskConfig { name: string; retries?: number; timeLimit?: number; queue?: string }
const runnerTask = z.union([
  runnerTaskName.transform((name): RunnerTaskConfig => ({ name })),
  z.strictObject({
    name: runnerTaskName,
    /** Retries after the first failure; the runner's `retries` when left out. */
    retries: count.optional(),
    /** A shorter limit for this task; the runner's (and the pool's) still apply. */
    timeLimit: duration.optional(),
    /** Overrides routing for this task. */
    queue: name.optional(),
  }).transform((t): RunnerTaskConfig => t),
], { error: 'write a task name (ml.predict) or { name, retries?, timeLimit?, queue? }' });

export const runnerSchema = z.strictObject({
  /** argv of a program that speaks the runner protocol (requests on fd 3, replies on fd 4; docs/runners.md). */
  command: z.array(z.string().min(1)).min(1, 'give the program and its arguments, e.g. [node, runners/echo.mjs]').optional(),
  /** Task modules for the shipped Python runner: files (./ml/tasks.py, relative to the config file) or dotted module names. */
  python: z.union([z.string().min(1).transform((m) => [m]), z.array(z.string().min(1)).min(1, 'list at least one task module')]).optional(),
  /** The Python that runs `python` runners (a virtualenv's bin/python, /usr/bin/python3); `python3` from PATH when left out. */
  interpreter: z.string().min(1).optional(),
  /** The task names this runner serves; routes send them to queues like any task's. */
  tasks: z.array(runnerTask).min(1, 'list the task names this runner serves, e.g. [ml.predict]'),
  /** Hard limit per job: the runner is killed and replaced past it (the pool's timeLimit applies when shorter). */
  timeLimit: duration.optional(),
  /** Replace a runner process after this many jobs (the pool's maxTasksPerChild when left out). */
  maxTasksPerChild: z.number().int().positive().optional(),
  /** Replace a runner process whose RSS with its children's passes this (the pool's maxMemory when left out). */
  maxMemory: size.optional(),
  /** How long a runner may take to load (interpreter, imports, model) before it is killed and its start counts as failed. */
  startTimeout: duration.default(300_000),
  /** Environment added to the replica's own (which carries the pool's env). */
  env: z.record(z.string(), z.string()).default({}),
  /** Working directory, relative to the config file (default: the config file's folder). */
  cwd: z.string().min(1).optional(),
  /** Retries after the first failure, for its tasks that do not set their own. */
  retries: count.default(0),
  /** Sends every task of this runner to this queue, whatever the routes say. */
  queue: name.optional(),
}).superRefine((r, ctx) => {
  if (!r.command === !r.python) {
    ctx.addIssue({ code: 'custom', path: [], message: r.command
      ? 'give command or python, not both: python runs the shipped Python runner with your modules; command runs your own runner program'
      : 'give command (a program that speaks the runner protocol, docs/runners.md) or python (task modules for the shipped Python runner, e.g. python: ./ml/tasks.py)' });
  }
  if (r.interpreter && !r.python) ctx.addIssue({ code: 'custom', path: ['interpreter'], message: 'interpreter is for python runners; with command, put the program first in command' });
});

export const configSchema = z.strictObject({
  /** Where Redis is (a URL, or a sentinel or cluster block) and what an acknowledged submit promises (docs/redis.md). */
  redis: redisSchema.prefault({}),
  /** Prefix of every Redis key Trireme writes, so several deployments can share one Redis. */
  prefix: name.default('trireme'),
  /** Modules exporting task definitions (defineTask), relative to the config file. */
  tasks: z.array(z.string()).default([]),
  /** External programs run as tasks, by task name. */
  commands: z.record(name, commandTask).default({}),
  /** Warm runners by name: long-lived programs (Python or any language) that run their tasks one job at a time. */
  runners: z.record(name, runnerSchema).default({}),
  routes: z.array(z.strictObject({ match: z.string().min(1), queue: name })).default([]),
  defaultQueue: name.default('default'),
  pools: z.record(name, poolSchema).refine((p) => Object.keys(p).length > 0, 'declare at least one pool'),
  controller: z.strictObject({
    interval: duration.default(2_000),
    /** How long a controller's lease lives without renewal; a standby takes over after it lapses. */
    leaseTtl: duration.default(6_000),
    /** Scale events kept in Redis for the API and dashboard. */
    eventsKept: z.number().int().positive().default(500),
  }).prefault({}),
  /** What this host can hold, for the local driver; unset fields are read from the machine. */
  capacity: z.strictObject({
    cpu: z.number().positive().optional(),
    memory: size.optional(),
    gpu: count.optional(),
    /** How far declared resources may exceed the host (1 = not at all). */
    overcommit: z.number().min(1).default(1),
  }).prefault({}),
  /** A budget shared by all pools, split by pool priority. */
  budget: z.strictObject({ replicas: count.optional(), cpu: z.number().positive().optional(), gpu: count.optional() }).default({}),
  /** Settings shared by every pool of a driver kind, by kind: `drivers: { kubernetes: { namespace: jobs } }`. */
  drivers: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  /** A directory every replica must be able to write (results, model files on NFS, ...); `trireme doctor` checks it. */
  sharedStorage: z.string().min(1).optional(),
  /**
   * Job files: a folder per job under `<dir>/jobs/<id>/` (uploads in input/, the task's files in output/), on a local
   * disk or a mount every worker host shares (docs/storage.md). Off when left out.
   */
  storage: z.strictObject({
    dir: z.string().min(1, 'give the folder, relative to the config file or absolute (e.g. /mnt/jobs)'),
    /** Largest file accepted in an upload. */
    maxFileSize: size.default(100 * 1024 ** 2),
    /** Most files in one upload. */
    maxFiles: z.number().int().positive().max(1000).default(20),
    /** Remove a job's folder after this age even while Redis still holds the job; by default it goes with the job. */
    retention: duration.optional(),
  }).optional(),
  /** Job history in PostgreSQL: every job and run, kept after Redis lets them go (docs/storage.md). Off when left out. */
  history: z.strictObject({
    postgres: z.string().regex(/^postgres(ql)?:\/\//, 'write a URL such as postgres://trireme@127.0.0.1:5432/trireme'),
    /** Records written per transaction. */
    batch: z.number().int().positive().max(10_000).default(500),
    /** History is reported stuck (`/readyz` degraded, `doctor` failing) when its oldest waiting record is older than this. */
    stuckAfter: duration.default(300_000),
  }).optional(),
  /** The HTTP API and dashboard served by `trireme serve`. */
  api: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7070),
    /** Largest request body accepted. */
    bodyLimit: size.default(1024 * 1024),
    /**
     * Most payload bytes one group submitted through the API may store: each run keeps its own copy in Redis, so
     * `runs: 10000` of a 1 MiB payload would ask for 10 GiB. Runs x the payload's JSON size (payloads: their sum).
     */
    groupPayloadLimit: size.default(16 * 1024 * 1024),
    /** How long a client may take to send a whole request, headers and body (a slow one is cut off with 408). */
    requestTimeout: duration.default(30_000),
    /** Connections held open at once; more are refused (but for a few kept for /healthz and /readyz), so slow clients cannot exhaust file descriptors. */
    maxConnections: z.number().int().positive().default(512),
    /** Host names the API answers to besides loopback ones (DNS rebinding guard); `["*"]` accepts any. */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** Origins (scheme://host:port) whose pages may call the API from a browser, besides the API's own. */
    allowedOrigins: z.array(z.string().min(1)).default([]),
  }).prefault({}),
  /**
   * API tokens. With any token configured, every state-changing call needs a full token; `protectReads` makes reads
   * need a token too (read-only or full). Required when the API listens beyond loopback. TRIREME_API_TOKEN adds one.
   */
  auth: z.strictObject({
    tokens: z.array(z.strictObject({
      token: z.string().regex(/^\S{16,}$/, 'use a token of at least 16 characters with no spaces (e.g. openssl rand -hex 24)'),
      readOnly: z.boolean().default(false),
      name: z.string().optional(),
    })).default([]),
    protectReads: z.boolean().default(false),
  }).prefault({}),
  /** Jobs submitted on a schedule, by name: a task on a cron expression or every interval (docs/operations.md). */
  schedules: z.record(name, jobScheduleSchema).default({}),
  /** Rate limits by queue: at most `jobs` jobs start per `per`, across every replica on every host. */
  rateLimits: z.record(name, rateLimitSchema).default({}),
  /** Webhooks that receive scale events and other notices as CloudEvents (docs/operations.md). */
  notify: notifySchema.prefault({}),
  /** What `trireme export prometheus-rules` alerts on. */
  alerts: z.strictObject({
    /** The p95 queue wait above which a pool without `scaling.targetWait` is alerted on (after 10 minutes). */
    queueWait: duration.default(300_000),
  }).prefault({}),
}).superRefine((cfg, ctx) => crossCheck(cfg as unknown as Record<string, unknown>, ctx), {
  // Run even when single fields failed, so that one pass lists every problem; crossCheck reads defensively.
  when: () => true,
});

type Ctx = { addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void };
const isObj = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Rules that span fields: bounds in order, every queue served by exactly one pool. */
function crossCheck(cfg: Record<string, unknown>, ctx: Ctx): void {
  const served = new Map<string, string>();
  const pools = isObj(cfg.pools) ? cfg.pools : {};
  for (const [poolName, pool] of Object.entries(pools)) {
    if (!isObj(pool)) continue;
    const s = isObj(pool.scaling) ? pool.scaling : {};
    const min = typeof s.min === 'number' ? s.min : 0;
    const max = typeof s.max === 'number' ? s.max : 1;
    if (max < min) ctx.addIssue({ code: 'custom', path: ['pools', poolName, 'scaling', 'max'], message: `must be >= min (${min})` });
    const up = typeof s.scaleUpThreshold === 'number' ? s.scaleUpThreshold : 1;
    const down = typeof s.scaleDownThreshold === 'number' ? s.scaleDownThreshold : 0;
    if (down >= up && up > 0) {
      ctx.addIssue({ code: 'custom', path: ['pools', poolName, 'scaling', 'scaleDownThreshold'], message: `must be below scaleUpThreshold (${up}), or the pool would flap` });
    }
    (Array.isArray(s.schedules) ? s.schedules : []).forEach((w: unknown, i: number) => {
      if (isObj(w) && typeof w.min === 'number' && typeof w.max === 'number' && w.max < w.min) {
        ctx.addIssue({ code: 'custom', path: ['pools', poolName, 'scaling', 'schedules', i, 'max'], message: `must be >= min (${w.min})` });
      }
    });
    for (const q of Array.isArray(pool.queues) ? pool.queues : []) {
      if (typeof q !== 'string') continue;
      const other = served.get(q);
      if (other) ctx.addIssue({ code: 'custom', path: ['pools', poolName, 'queues'], message: `queue "${q}" is already served by pool "${other}"; a queue belongs to one pool` });
      served.set(q, poolName);
    }
  }
  if (served.size === 0) return; // "declare at least one pool" is already reported
  // Trireme's own jobs go only to the queues of pools whose replicas are Trireme's (core/pool-kind.ts).
  const kindOf = (pool: string) => { const p = pools[pool]; return POOL_KINDS[isObj(p) && typeof p.kind === 'string' ? p.kind : kindOfRaw(isObj(p) ? p : {})]; };
  const ownPools = Object.keys(pools).filter((pool) => kindOf(pool).ownQueues);
  const needs: [unknown, (string | number)[]][] = [];
  // A config of Celery pools alone needs no default queue; one that names its own does.
  if (ownPools.length > 0 || (cfg.defaultQueue !== undefined && cfg.defaultQueue !== 'default')) needs.push([cfg.defaultQueue ?? 'default', ['defaultQueue']]);
  if (Array.isArray(cfg.routes)) cfg.routes.forEach((r: unknown, i) => { if (isObj(r)) needs.push([r.queue, ['routes', i, 'queue']]); });
  if (isObj(cfg.commands)) for (const [n, c] of Object.entries(cfg.commands)) if (isObj(c) && c.queue) needs.push([c.queue, ['commands', n, 'queue']]);
  if (isObj(cfg.schedules)) for (const [n, s] of Object.entries(cfg.schedules)) if (isObj(s) && isObj(s.options) && s.options.queue) needs.push([s.options.queue, ['schedules', n, 'options', 'queue']]);
  if (isObj(cfg.rateLimits)) for (const q of Object.keys(cfg.rateLimits)) needs.push([q, ['rateLimits', q]]);
  checkRunners(cfg, needs, ctx);
  for (const [queue, path] of needs) {
    if (typeof queue !== 'string') continue;
    const pool = served.get(queue);
    if (!pool) ctx.addIssue({ code: 'custom', path, message: `queue "${queue}" is served by no pool; add it to a pool's queues` });
    else if (!kindOf(pool).ownQueues) ctx.addIssue({ code: 'custom', path, message: `queue "${queue}" belongs to the ${String(pools[pool]?.kind ?? kindOfRaw(pools[pool]))} pool "${pool}": Trireme sends no job there (its tasks are sent with its own client, e.g. Celery's apply_async); route to a queue of a pool with queues:` });
  }
  if (ownPools.length === 0) {
    for (const field of ['tasks', 'commands'] as const) {
      const v = cfg[field];
      if (Array.isArray(v) ? v.length > 0 : isObj(v) && Object.keys(v).length > 0) {
        ctx.addIssue({ code: 'custom', path: [field], message: 'no pool runs Trireme tasks (every pool is a Celery pool): add a pool with queues: to run them, or remove this' });
      }
    }
  }
  const tags = isObj(cfg.redis) && isObj(cfg.redis.hashTags) ? cfg.redis.hashTags : {};
  for (const queue of Object.keys(tags)) {
    if (!served.has(queue)) ctx.addIssue({ code: 'custom', path: ['redis', 'hashTags', queue], message: `queue "${queue}" is served by no pool; hashTags places the pools' queues` });
  }
}

/** Runner tasks: each name once across runners and commands, each explicit queue served (added to `needs`). */
function checkRunners(cfg: Record<string, unknown>, needs: [unknown, (string | number)[]][], ctx: Ctx): void {
  const owner = new Map<string, string>();
  if (isObj(cfg.commands)) for (const n of Object.keys(cfg.commands)) owner.set(n, `commands.${n}`);
  for (const [runner, r] of Object.entries(isObj(cfg.runners) ? cfg.runners : {})) {
    if (!isObj(r)) continue;
    if (r.queue) needs.push([r.queue, ['runners', runner, 'queue']]);
    (Array.isArray(r.tasks) ? r.tasks : []).forEach((t: unknown, i: number) => {
      const task = typeof t === 'string' ? t : isObj(t) && typeof t.name === 'string' ? t.name : undefined;
      if (!task) return;
      if (isObj(t) && t.queue) needs.push([t.queue, ['runners', runner, 'tasks', i, 'queue']]);
      const other = owner.get(task);
      if (other === `runners.${runner}`) ctx.addIssue({ code: 'custom', path: ['runners', runner, 'tasks', i], message: `task "${task}" is listed twice` });
      else if (other) ctx.addIssue({ code: 'custom', path: ['runners', runner, 'tasks', i], message: `task "${task}" is already served by ${other}; a task name belongs to one runner or command` });
      owner.set(task, `runners.${runner}`);
    });
  }
}

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type PoolConfig = Config['pools'][string];

/** A pool's scaling settings with the preset and defaults applied: what every reader sees. */
export type ScalingConfig = PoolConfig['scaling'];
export type CommandTaskConfig = Config['commands'][string];
export type RunnerConfig = Config['runners'][string];

/**
 * Jobs (waiting + running) one replica of the pool is meant to hold, by its policy: target: concurrency x
 * targetBacklogPerSlot; threshold: its concurrency; hpa: hpaTarget. KEDA/HPA exports and the original API shape read it.
 */
export function perReplicaTarget(pool: PoolConfig): number {
  const s = pool.scaling;
  if (s.policy === 'hpa') return s.hpaTarget;
  if (s.policy === 'threshold') return pool.concurrency;
  return pool.concurrency * s.targetBacklogPerSlot;
}

const describe = (issues: readonly z.core.$ZodIssue[], prefix: (string | number | symbol)[] = []): string[] => issues.map((issue) => {
  const full = [...prefix, ...issue.path];
  const path = full.length ? full.map(String).join('.') : '(top level)';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling (see docs/config.md)`;
  // A bad name (a record's key): the name rule's own message says what to use.
  if (issue.code === 'invalid_key' && issue.issues.length) message = `invalid name: ${issue.issues[0].message}`;
  return `${path}: ${message}`;
});

/**
 * Validates a parsed config object; throws ConfigError listing every problem by its path. `drivers` are the driver
 * registry's settings schemas: each pool's driver settings and the shared `drivers.<kind>` settings are checked
 * against them (without them, only the local driver is known).
 */
export function parseConfig(input: unknown, source?: string, opts: { drivers?: DriverSchemas } = {}): Config {
  const drivers = opts.drivers ?? { local: { pool: z.strictObject({}), shared: z.strictObject({}) } };
  if (!isObj(input)) {
    const what = input === null || input === undefined ? 'is empty' : `is ${Array.isArray(input) ? 'a list' : `a ${typeof input}`}`;
    throw new ConfigError([`the config ${what}; it must be a mapping with at least "pools" (see examples/three-tier/trireme.yml)`], source ?? 'config');
  }
  const result = configSchema.safeParse(input);
  const problems = result.success ? [] : describe(result.error.issues);
  const raw = isObj(input) ? input : {};
  const known = Object.keys(drivers).join(', ');
  for (const [name, pool] of Object.entries(isObj(raw.pools) ? raw.pools : {})) {
    const d = isObj(pool) ? pool.driver : undefined;
    const kind = typeof d === 'string' ? d : isObj(d) && typeof d.kind === 'string' ? d.kind : undefined;
    if (kind === undefined) continue; // absent (local) or already reported by the schema
    const schema = Object.hasOwn(drivers, kind) ? drivers[kind] : undefined;
    if (!schema) { problems.push(`pools.${name}.driver: unknown driver "${kind}"; use one of: ${known}`); continue; }
    const parsed = schema.pool.safeParse(isObj(d) ? withoutKind(d) : {});
    if (!parsed.success) problems.push(...describe(parsed.error.issues, ['pools', name, 'driver']));
    else if (result.success) result.data.pools[name].driver.settings = parsed.data as Record<string, unknown>;
  }
  // A kind some pool uses needs its shared settings valid even when the config gives none (a required Compose file).
  const used = new Set(Object.values(isObj(raw.pools) ? raw.pools : {}).map((p) => (isObj(p) ? (typeof p.driver === 'string' ? p.driver : isObj(p.driver) ? p.driver.kind : undefined) : undefined)));
  const given = isObj(raw.drivers) ? raw.drivers : {};
  const sharedSettings = { ...Object.fromEntries([...used].filter((k): k is string => typeof k === 'string' && Object.hasOwn(drivers, k)).map((k) => [k, {}])), ...given };
  for (const [kind, settings] of Object.entries(sharedSettings)) {
    const schema = Object.hasOwn(drivers, kind) ? drivers[kind] : undefined;
    if (!schema) { problems.push(`drivers.${kind}: unknown driver; use one of: ${known}`); continue; }
    const parsed = schema.shared.safeParse(settings ?? {});
    if (!parsed.success) problems.push(...describe(parsed.error.issues, ['drivers', kind]));
    else if (result.success) result.data.drivers[kind] = parsed.data as Record<string, unknown>;
  }
  if (problems.length || !result.success) throw new ConfigError(problems, source);
  return result.data;
}
