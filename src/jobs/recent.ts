/**
 * The jobs Redis still holds that a pool ran, for `trireme tune` when no job history is configured: BullMQ's
 * completed and failed sets (scored by when each job finished), each job's submit time, delay, priority and how long
 * its last attempt ran. Redis keeps finished jobs for a day (10 000 per queue at most, jobs/client.ts), so this reaches
 * back that far; job history in PostgreSQL reaches back as far as it was kept.
 */
import type { Redis } from '../redis/connection.js';
import type { RanJob } from '../core/records.js';
import { GROUP_TASK } from './client.js';

/** Job hashes read per round trip. */
const BATCH = 1_000;

export interface RecentJobs {
  jobs: RanJob[];
  /** When the oldest finished job Redis still holds finished (ms), over these queues; undefined when none. */
  keptSince?: number;
}

export async function recentJobs(redis: Redis, prefix: string, queues: string[], since: number, until: number): Promise<RecentJobs> {
  const ids: { queue: string; id: string }[] = [];
  let keptSince: number | undefined;
  for (const queue of queues) {
    for (const set of ['completed', 'failed']) {
      const key = `${prefix}:${queue}:${set}`;
      const [inRange, first] = await Promise.all([redis.zrangebyscore(key, since, until), redis.zrange(key, 0, 0, 'WITHSCORES')]);
      for (const id of inRange) ids.push({ queue, id });
      if (first.length === 2) keptSince = Math.min(keptSince ?? Infinity, Number(first[1]));
    }
  }
  const jobs: RanJob[] = [];
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const p = redis.pipeline();
    for (const { queue, id } of batch) p.hmget(`${prefix}:${queue}:${id}`, 'name', 'timestamp', 'processedOn', 'finishedOn', 'opts');
    const res = (await p.exec()) ?? [];
    batch.forEach(({ queue }, k) => {
      const [err, v] = res[k] ?? [];
      if (err || !Array.isArray(v)) return;
      const [name, timestamp, processedOn, finishedOn, opts] = v as (string | null)[];
      const submittedAt = Number(timestamp);
      const started = Number(processedOn);
      const finished = Number(finishedOn);
      // A group's parent job is bookkeeping, not work; a job removed meanwhile has no fields left.
      if (!name || name === GROUP_TASK || !Number.isFinite(submittedAt) || !Number.isFinite(started) || !Number.isFinite(finished)) return;
      let delay = 0;
      let priority: number | undefined;
      try {
        const o = JSON.parse(opts ?? '{}') as { delay?: number; priority?: number };
        delay = Math.max(0, Number(o.delay) || 0);
        priority = Number(o.priority) > 0 ? Number(o.priority) : undefined;
      } catch { /* no options: none delayed, none prioritized */ }
      jobs.push({ task: name, queue, submittedAt, delay, service: Math.max(0, finished - started) / 1000, ...(priority ? { priority } : {}) });
    });
  }
  jobs.sort((a, b) => a.submittedAt - b.submittedAt);
  return { jobs, keptSince };
}
