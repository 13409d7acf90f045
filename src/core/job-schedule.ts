/**
 * Job schedules (`schedules:` in the config): a task submitted on a cron expression in a time zone, or every fixed
 * interval, carried out by BullMQ's job schedulers (jobs/schedules.ts). Not to be confused with a pool's scaling
 * windows (schedule.ts), which change min and max by the hour.
 *
 * The cron expression is read by cron-parser, the parser BullMQ computes each next run with, so an expression this
 * file accepts is one BullMQ can run, and the next runs shown are the ones it will make. The time zone is checked
 * against the IANA names the runtime knows (Intl), since cron-parser's own error for an unknown zone names no zone.
 */
import { z } from 'zod';
import { CronExpressionParser } from 'cron-parser';
import { parseDuration } from './units.js';

/** The shortest `every` accepted: faster than once a second is a loop, not a schedule. */
export const MIN_EVERY_MS = 1_000;

/** Why a cron expression cannot be used, or undefined. */
export function cronProblem(expression: string): string | undefined {
  try {
    // A fixed date: validation must not read the clock.
    CronExpressionParser.parse(expression, { currentDate: new Date(0), tz: 'UTC' }).next();
    return undefined;
  } catch (e) {
    return `"${expression}" is not a cron expression (${(e as Error).message}); write five fields (minute hour day-of-month month day-of-week) or six with seconds first, e.g. "0 2 * * *" for 02:00 daily`;
  }
}

/** Why a time zone name cannot be used, or undefined. */
export function timeZoneProblem(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return undefined;
  } catch {
    return `"${tz}" is not a time zone this runtime knows; use an IANA name such as Europe/Paris, America/New_York or UTC`;
  }
}

const every = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    const ms = parseDuration(v);
    if (ms < MIN_EVERY_MS) ctx.addIssue({ code: 'custom', message: `must be at least 1s, got ${v}` });
    return ms;
  } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});

/** One schedule: what to submit, and when. */
export const jobScheduleSchema = z.strictObject({
  /** The task to submit (a defineTask name or a command task). */
  task: z.string().min(1, 'name the task to submit, e.g. reports.summarise'),
  /** Its payload, as a submit would give it; `{}` when left out. */
  payload: z.unknown().optional(),
  /** A fixed interval (`30s`, `15m`); runs are aligned to multiples of it. */
  every: every.optional(),
  /** A cron expression, five fields or six with seconds; read in `tz`. */
  cron: z.string().superRefine((c, ctx) => { const p = cronProblem(c); if (p) ctx.addIssue({ code: 'custom', message: p }); }).optional(),
  /** The time zone `cron` is read in (an IANA name); UTC when left out. */
  tz: z.string().superRefine((t, ctx) => { const p = timeZoneProblem(t); if (p) ctx.addIssue({ code: 'custom', message: p }); }).optional(),
  /** Submit options: the queue (else the task's route), priority and retries (else the task's own). */
  options: z.strictObject({
    queue: z.string().min(1).optional(),
    priority: z.number().int().min(1).max(2_097_152).optional(),
    retries: z.number().int().min(0).max(1000).optional(),
  }).default({}),
}).superRefine((s, ctx) => {
  if ((s.every === undefined) === (s.cron === undefined)) {
    ctx.addIssue({ code: 'custom', path: [s.every === undefined ? 'cron' : 'every'], message: s.every === undefined ? 'give when it runs: cron ("0 2 * * *", with tz) or every (30s)' : 'give cron or every, not both' });
  }
  if (s.tz !== undefined && s.cron === undefined) ctx.addIssue({ code: 'custom', path: ['tz'], message: 'tz applies to cron; every is a fixed interval in any zone' });
});

export type JobSchedule = z.output<typeof jobScheduleSchema>;

/** When a schedule runs, in words: "every 30s", "cron 0 2 * * * (Europe/Paris)". */
export function describeWhen(s: Pick<JobSchedule, 'every' | 'cron' | 'tz'>): string {
  if (s.every !== undefined) return `every ${s.every % 1000 === 0 ? `${s.every / 1000}s` : `${s.every}ms`}`;
  return `cron ${s.cron} (${s.tz ?? 'UTC'})`;
}

/** The next `count` runs of a cron schedule after `after` (ms), as BullMQ computes them. */
export function nextCronRuns(cron: string, tz: string | undefined, after: number, count: number): number[] {
  const it = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: tz ?? 'UTC' });
  return Array.from({ length: count }, () => it.next().getTime());
}
