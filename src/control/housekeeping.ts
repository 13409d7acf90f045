/**
 * What `serve` does beside the control loop while it holds the lease: take run records to PostgreSQL (history),
 * sweep job folders on storage.dir whose job is gone or past `storage.retention`, and keep the job schedules in Redis
 * as the config says (schedule-keeper.ts).
 */
import type { HistoryRecorder } from '../history/recorder.js';
import { JobStorage } from '../storage/job-folders.js';
import { TriremeClient } from '../jobs/client.js';
import { connect } from '../redis/connection.js';
import type { Project } from '../core/project.js';
import type { Logger } from '../system/log.js';
import type { Clock } from '../core/clock.js';
import { ScheduleKeeper } from './schedule-keeper.js';

/** A job folder younger than this is never swept as orphaned: its job may still be on its way into Redis. */
const SWEEP_GRACE_MS = 3_600_000;

export interface Housekeeping { recorder?: HistoryRecorder; sweep(): Promise<number>; stop(): Promise<void> }

export async function startHousekeeping(o: { project: Project; redisUrl: string; logger: Logger; clock: Clock; isLeader: () => boolean; sweepEveryMs?: number }): Promise<Housekeeping> {
  const cfg = o.project.config;
  const redis = connect(o.redisUrl, 'trireme-housekeeping');
  // pg loads only where history is configured.
  const recorder = cfg.history ? new (await import('../history/recorder.js')).HistoryRecorder({ url: cfg.history.postgres, redis, prefix: cfg.prefix, batch: cfg.history.batch, logger: o.logger, isLeader: o.isLeader }) : undefined;
  const recording = recorder?.run();
  const storage = cfg.storage ? new JobStorage(cfg.storage.dir, o.project.baseDir) : undefined;
  const client = new TriremeClient(o.project, o.redisUrl);
  // Always, schedules or not: a schedule removed from the config is removed from Redis by the next leader.
  const schedules = new ScheduleKeeper({ project: o.project, redis, client, clock: o.clock, logger: o.logger, isLeader: o.isLeader });
  schedules.start();
  const sweep = async () => {
    if (!storage) return 0;
    const n = await storage.sweep(async (id) => (await client.getJob(id)) !== undefined, o.clock.now(), { graceMs: SWEEP_GRACE_MS, retentionMs: cfg.storage!.retention });
    if (n) o.logger.info({ removed: n }, 'storage: removed job folders whose job is gone or past retention');
    return n;
  };
  const timer = storage ? setInterval(() => { if (o.isLeader()) sweep().catch((err) => o.logger.warn({ err: (err as Error).message }, 'storage: sweep failed')); }, o.sweepEveryMs ?? 600_000) : undefined;
  timer?.unref();
  return {
    recorder,
    sweep,
    async stop() {
      clearInterval(timer);
      await schedules.stop();
      if (recorder) {
        await recorder.stopLoop();
        await recording;
        // What the replicas recorded while draining goes out now, if PostgreSQL answers; else it waits in Redis.
        if (o.isLeader()) {
          const deadline = Date.now() + 5_000;
          try { while (Date.now() < deadline && (await recorder.tick()) > 0); } catch { /* late, not lost */ }
        }
        await recorder.stop();
      }
      await client.close();
      redis.disconnect();
    },
  };
}
