/**
 * A Celery pool: its block in the config (`pools.P.celery`), the brokers whose queues Trireme can read, and the
 * command line of one Celery worker replica. Pure: the signal sources (signals/celery-redis.ts, celery-amqp.ts) read
 * the broker, the drivers start the command.
 *
 * The worker's options are what correct scaling needs: `-E` (task events: running and reserved tasks per worker, so
 * that a scale-in takes idle workers only), fair scheduling and a prefetch multiplier of 1 (a worker does not hoard
 * tasks another could run), `--without-mingle --without-gossip` (a fast start: no waiting for the other workers).
 */
import { z } from 'zod';

/** URL schemes of the brokers Trireme reads, by the broker family whose source reads them (signals/index.ts). */
export const CELERY_BROKERS: Record<string, string> = { redis: 'redis', rediss: 'redis', amqp: 'amqp', amqps: 'amqp', pyamqp: 'amqp' };

/** The broker family of a URL (`redis`, `amqp`), or undefined for a scheme Trireme cannot read. */
export function brokerFamily(url: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  return m && Object.hasOwn(CELERY_BROKERS, m[1].toLowerCase()) ? CELERY_BROKERS[m[1].toLowerCase()] : undefined;
}

/** A URL with its password hidden, for logs and messages. */
export const hidePassword = (url: string): string => url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');

/**
 * Worker options Trireme sets itself (or that would defeat it), with the field to use instead. `--autoscale` would
 * resize processes under Trireme's count; without heartbeats Trireme cannot tell busy workers from idle ones.
 */
const OWNED_ARGS: [RegExp, string][] = [
  [/^(-A|--app)(=|$)/, 'set celery.app'],
  [/^(-Q|--queues)(=|$)/, 'set celery.queues'],
  [/^(-c|--concurrency)(=|$)/, "set the pool's concurrency"],
  [/^(-n|--hostname)(=|$)/, 'Trireme names each replica (POOL-ID@HOST) to know which one it started'],
  [/^(-b|--broker)(=|$)/, 'set celery.broker: Trireme reads the queues there and gives it to each worker'],
  [/^--autoscale(=|$)/, "Trireme scales the pool: set the pool's concurrency and scaling.max instead"],
  [/^--without-heartbeat$/, 'heartbeats say which workers are busy; Trireme needs them to scale in only idle ones'],
  [/^(-D|--detach)$/, "the pool's driver must own the worker's process to drain it"],
];

const queueName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'use letters, digits, ".", ":", "_" or "-", starting with a letter or digit');

export const celeryBlock = z.strictObject({
  /** The broker the workers consume from: redis://HOST:PORT/DB or amqp://USER:PASS@HOST:PORT/VHOST. */
  broker: z.string().superRefine((url, ctx) => {
    if (!brokerFamily(url)) {
      ctx.addIssue({ code: 'custom', message: `unknown broker URL "${hidePassword(url)}": use ${Object.keys(CELERY_BROKERS).map((s) => `${s}://`).join(', ')} (e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)` });
    }
  }),
  /** What `celery -A` takes: a module (or `module:attribute`) imported from the config's folder. */
  app: z.string().regex(/^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$/, 'give the module `celery -A` imports, e.g. tasks or proj.celery:app'),
  /** The Celery queues the pool's workers consume (`-Q`), and whose depth scales the pool. */
  queues: z.array(queueName).min(1, 'a Celery pool consumes at least one queue'),
  /** The Python that has Celery installed (Debian's python3-celery lives under /usr/bin/python3). */
  python: z.string().min(1).default('python3'),
  /** More `celery worker` arguments, after Trireme's own. */
  args: z.array(z.string()).default([]).superRefine((args, ctx) => {
    args.forEach((a, i) => {
      const owned = OWNED_ARGS.find(([re]) => re.test(a));
      if (owned) ctx.addIssue({ code: 'custom', path: [i], message: `"${a}" is set by Trireme: ${owned[1]}` });
    });
  }),
  /** Task events (`-E`): reserved and running tasks per worker, service times. Heartbeats flow either way. */
  events: z.boolean().default(true),
});

export type CeleryConfig = z.output<typeof celeryBlock>;

/**
 * Pool fields a Celery pool cannot take, with what to do instead (Celery's own pool runs its tasks). `timeLimit`
 * and `maxTasksPerChild` mean the same to Celery and are passed on.
 */
export const CELERY_REFUSES: Record<string, string> = {
  queues: 'a Celery pool consumes celery.queues; a pool cannot have both Trireme queues and a Celery block',
  isolation: 'Celery runs its tasks in its own pool of processes; give celery.args [--pool, threads] to change it',
  maxMemory: 'give celery.args [--max-memory-per-child, KIB] (per child process, in KiB)',
  standby: 'a Celery worker starts from its own command; there is no standby for it',
};

/** What one Celery worker replica runs: the program, its arguments, and its environment beside the pool's. */
export interface CeleryCommand { entrypoint: string[]; args: string[]; env: Record<string, string> }

/**
 * The command of one worker. `node`: its Celery node name (`-n`), `POOL-ID@HOST`, by which Trireme knows the worker
 * it started in Celery's events. The broker goes in CELERY_BROKER_URL, which wins over the app's own setting, so that
 * the workers consume where Trireme reads, and a password stays out of the process list.
 */
export function celeryCommand(c: CeleryConfig, pool: { concurrency: number; timeLimit?: number; maxTasksPerChild?: number }, node: string): CeleryCommand {
  return {
    entrypoint: [c.python, '-m', 'celery'],
    args: [
      '-A', c.app, 'worker', '-Q', c.queues.join(','), '-c', String(pool.concurrency), '-n', node,
      ...(c.events ? ['-E'] : []), '-O', 'fair', '--prefetch-multiplier=1', '--without-mingle', '--without-gossip',
      ...(pool.timeLimit !== undefined ? [`--time-limit=${Math.ceil(pool.timeLimit / 1000)}`] : []),
      ...(pool.maxTasksPerChild !== undefined ? [`--max-tasks-per-child=${pool.maxTasksPerChild}`] : []),
      ...c.args,
    ],
    // Unbuffered: the worker's log reaches serve's (or the engine's) as it is written.
    env: { CELERY_BROKER_URL: c.broker, PYTHONUNBUFFERED: '1' },
  };
}

/** The label a Celery pool's task counters are kept under: its queue, or its queues joined by `+` (events do not say which queue a task came from). */
export const celeryStatsLabel = (queues: string[]): string => queues.join('+');
