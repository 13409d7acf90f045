/**
 * Job schedules on BullMQ's job schedulers: Trireme writes no scheduler of its own. Each schedule of the config is
 * one BullMQ job scheduler on its task's queue, with the id `<queue>~s-<name>`, so each run's job id,
 * `repeat:<queue>~s-<name>:<scheduled ms>`, names its queue (jobs/ids.ts) and its scheduled time, once: BullMQ makes
 * the id of a run from the time it is due, so a run cannot be created twice.
 *
 * `reconcile()` makes Redis agree with the config (serve's leader runs it, control/housekeeping.ts): a schedule that
 * is new or changed is upserted, one no longer in the config is removed. What was upserted is recorded with a
 * fingerprint (`<prefix>:~schedules`), so a schedule that did not change is left alone: a new leader, or a second
 * controller, touches nothing, and the next run keeps its time. BullMQ's worker creates each next run when it takes
 * the current one, so runs go on whichever controller leads; a run that comes due while no replica can take it runs
 * late, once, and the runs it would have overlapped are not made up (as cron does).
 */
import { Queue, type JobsOptions, type RepeatOptions } from 'bullmq';
import type { Redis } from '../redis/connection.js';
import { Keyspace, ownPrefix } from '../redis/keyspace.js';
import type { Project } from '../core/project.js';
import { describeWhen } from '../core/job-schedule.js';
import { ConfigError } from '../core/errors.js';
import { keys } from '../redis/keys.js';
import { readManifest } from './manifest.js';
import { loadedTaskSpec, scheduleTemplate, type TaskSpec } from './client.js';
import { SubmitError } from './errors.js';
import type { ScheduledRun } from '../core/records.js';

/** The BullMQ scheduler id of a schedule on its queue. */
export const schedulerId = (queue: string, name: string): string => `${queue}~s-${name}`;

/** A schedule as the config asks for it, resolved: its queue, BullMQ's repeat options and template. */
export interface DesiredSchedule {
  name: string;
  id: string;
  queue: string;
  pool: string;
  task: string;
  repeat: Omit<RepeatOptions, 'key'>;
  template: { name: string; data: unknown; opts: JobsOptions };
  /** What decides whether Redis holds this very schedule. */
  fingerprint: string;
}

/** A schedule as the faces show it (`trireme schedules`, `GET /schedules`, the dashboard). */
export interface ScheduleView {
  name: string;
  task: string;
  queue: string;
  pool: string;
  /** "every 30s", "cron 0 2 * * * (Europe/Paris)". */
  when: string;
  every?: number;
  cron?: string;
  tz?: string;
  /** `active`: its scheduler is in Redis; `pending`: not yet (no controller has led since the config gained it). */
  state: 'active' | 'pending';
  /** When the next run is due (ms), as BullMQ has it. */
  next?: number;
  /** Runs made so far. */
  iterations?: number;
  /** The last run a replica took: its job id, when it started and finished, and how it ended. */
  last?: ScheduledRun;
}

interface Recorded { id: string; queue: string; fingerprint: string }

/**
 * What is known of a task without Redis: its loaded code; for a project without it (routes only), nothing, and the
 * routes decide (the replica checks the name when it runs the job).
 */
export const localSpec = (project: Project) => async (task: string): Promise<TaskSpec> => {
  const spec = loadedTaskSpec(project, task);
  if (spec || !project.tasksLoaded) return spec ?? {};
  throw new SubmitError('unknown_task', 'task', `unknown task "${task}"; known tasks: ${[...project.tasks.keys()].sort().join(', ') || '(none)'}`);
};

/**
 * What the config's schedules ask for, checked as submits are; every problem names its schedule and field. `spec`
 * tells what is known of a task (localSpec, or a client's taskSpec, which also reads the replicas' manifest).
 */
export async function desiredSchedules(project: Project, spec: (task: string) => Promise<TaskSpec> = localSpec(project)): Promise<DesiredSchedule[]> {
  const problems: string[] = [];
  const out: DesiredSchedule[] = [];
  for (const [name, s] of Object.entries(project.config.schedules ?? {})) {
    try {
      const t = scheduleTemplate(project, s.task, await spec(s.task), s.payload ?? {}, s.options);
      const repeat: Omit<RepeatOptions, 'key'> = s.every !== undefined ? { every: s.every } : { pattern: s.cron, tz: s.tz ?? 'UTC' };
      const template = { name: s.task, data: t.data, opts: t.opts };
      out.push({ name, id: schedulerId(t.queue, name), queue: t.queue, pool: t.pool, task: s.task, repeat, template, fingerprint: JSON.stringify({ repeat, template }) });
    } catch (e) {
      if (!(e instanceof SubmitError)) throw e;
      const field = e.field === 'task' || e.field === 'payload' ? e.field : `options.${e.field}`;
      problems.push(`schedules.${name}.${field}: ${e.message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems, project.configPath ?? 'config');
  return out;
}

export class JobSchedules {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly project: Project, private readonly redis: Redis) {}

  private get prefix(): string { return this.project.config.prefix; }
  /** Prefix of Trireme's own keys here (a hash tag on a Cluster). */
  private get own(): string { return ownPrefix(this.redis, this.prefix); }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: Keyspace.of(this.redis, this.project.config).queuePrefix(name) });
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  private async recorded(): Promise<Map<string, Recorded>> {
    const h = await this.redis.hgetall(keys.schedules(this.own));
    const out = new Map<string, Recorded>();
    for (const [name, v] of Object.entries(h)) { try { out.set(name, JSON.parse(v) as Recorded); } catch { /* rewritten below */ } }
    return out;
  }

  /**
   * Makes Redis hold exactly the desired schedules: upserts the new and the changed, removes the ones the config no
   * longer has (found by the record, and by their ids on every queue a pool serves, in case the record was lost).
   */
  async reconcile(desired: DesiredSchedule[]): Promise<{ created: string[]; updated: string[]; removed: string[] }> {
    const recorded = await this.recorded();
    const created: string[] = [];
    const updated: string[] = [];
    const removed: string[] = [];
    const wanted = new Set(desired.map((d) => `${d.queue}\u0000${d.id}`));
    for (const d of desired) {
      const r = recorded.get(d.name);
      const inRedis = await this.queue(d.queue).getJobScheduler(d.id);
      if (r?.fingerprint === d.fingerprint && r.id === d.id && inRedis) continue;
      await this.queue(d.queue).upsertJobScheduler(d.id, d.repeat, d.template);
      await this.redis.hset(keys.schedules(this.own), d.name, JSON.stringify({ id: d.id, queue: d.queue, fingerprint: d.fingerprint } satisfies Recorded));
      (r || inRedis ? updated : created).push(d.name);
      // Moved to another queue (a new route or options.queue): the old scheduler goes.
      if (r && r.id !== d.id && !wanted.has(`${r.queue}\u0000${r.id}`)) await this.queue(r.queue).removeJobScheduler(r.id);
    }
    const names = new Set(desired.map((d) => d.name));
    for (const [name, r] of recorded) {
      if (names.has(name)) continue;
      if (!wanted.has(`${r.queue}\u0000${r.id}`)) await this.queue(r.queue).removeJobScheduler(r.id);
      await this.redis.hdel(keys.schedules(this.own), name);
      removed.push(name);
    }
    // Trireme's schedulers left without a record: on the queues of this config, by the id pattern.
    for (const queue of this.project.router.queues()) {
      for (const s of await this.queue(queue).getJobSchedulers(0, -1, true)) {
        const name = s.key.startsWith(`${queue}~s-`) ? s.key.slice(queue.length + 3) : undefined;
        if (name === undefined || wanted.has(`${queue}\u0000${s.key}`)) continue;
        await this.queue(queue).removeJobScheduler(s.key);
        if (!removed.includes(name)) removed.push(name);
      }
    }
    return { created, updated, removed };
  }

  /**
   * Every configured schedule with what Redis says of it: next run, runs so far, the last run. Its queue is the one
   * the leader applied (the record), else what routing says (the task's own queue from the manifest first).
   */
  async list(): Promise<ScheduleView[]> {
    const { project } = this;
    const [recorded, runs, manifest] = await Promise.all([
      this.recorded(), this.redis.hgetall(keys.scheduleRuns(this.own)),
      project.tasksLoaded ? undefined : readManifest(this.redis, this.prefix).catch(() => undefined),
    ]);
    return Promise.all(Object.entries(project.config.schedules ?? {}).map(async ([name, s]): Promise<ScheduleView> => {
      const own = loadedTaskSpec(project, s.task)?.queue ?? manifest?.get(s.task)?.queue;
      const queue = recorded.get(name)?.queue ?? project.router.queueFor(s.task, s.options.queue ?? own);
      const id = recorded.get(name)?.id ?? schedulerId(queue, name);
      const inRedis = project.router.poolFor(queue) || recorded.has(name) ? await this.queue(queue).getJobScheduler(id) : undefined;
      let last: ScheduledRun | undefined;
      try { last = runs[id] ? JSON.parse(runs[id]) as ScheduledRun : undefined; } catch { /* unreadable: none shown */ }
      return {
        name, task: s.task, queue, pool: project.router.poolFor(queue) ?? '', when: describeWhen(s),
        ...(s.every !== undefined ? { every: s.every } : { cron: s.cron, tz: s.tz ?? 'UTC' }),
        state: inRedis ? 'active' : 'pending',
        ...(inRedis?.next ? { next: inRedis.next } : {}),
        ...(inRedis?.iterationCount !== undefined ? { iterations: inRedis.iterationCount } : {}),
        ...(last ? { last } : {}),
      };
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
