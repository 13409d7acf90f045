/**
 * Keeps Redis's job schedulers as the config says (jobs/schedules.ts), from the controller that leads: when it takes
 * the lease, and again every few minutes (someone may have removed a scheduler by hand). Only the leader writes, and
 * a schedule that did not change is not written at all, so two controllers never create one twice and a failover
 * leaves every next run at its time.
 */
import type { Project } from '../core/project.js';
import type { Clock, Timer } from '../core/clock.js';
import type { Logger } from '../system/log.js';
import type { Redis } from '../redis/connection.js';
import type { TriremeClient } from '../jobs/client.js';
import { desiredSchedules, JobSchedules } from '../jobs/schedules.js';

/** How often the leader checks that leadership changed (a takeover is acted on within this). */
const CHECK_MS = 1_000;
/** How often the leader reconciles again while it keeps the lease. */
const AGAIN_MS = 300_000;
/** How soon a reconciliation that failed (Redis away) is tried again. */
const RETRY_MS = 15_000;

export class ScheduleKeeper {
  private readonly schedules: JobSchedules;
  private timer?: Timer;
  /** When this controller, leading, reconciles next; undefined while it does not lead (so a takeover reconciles at once). */
  private nextAt?: number;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: { project: Project; redis: Redis; client: TriremeClient; clock: Clock; logger: Logger; isLeader: () => boolean }) {
    this.schedules = new JobSchedules(o.project, o.redis);
  }

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    const { isLeader, clock } = this.o;
    if (!isLeader()) this.nextAt = undefined;
    else if (!this.running && clock.now() >= (this.nextAt ?? -Infinity)) this.running = this.reconcile().finally(() => { this.running = undefined; });
    this.timer = clock.setTimeout(() => this.tick(), CHECK_MS);
  }

  /** Makes Redis agree with the config now; logs what changed. A failure is tried again on the next check. */
  async reconcile(): Promise<void> {
    try {
      const desired = await desiredSchedules(this.o.project, (task) => this.o.client.taskSpec(task));
      const { created, updated, removed } = await this.schedules.reconcile(desired);
      this.nextAt = this.o.clock.now() + AGAIN_MS;
      if (created.length || updated.length || removed.length) this.o.logger.info({ created, updated, removed }, 'job schedules reconciled with the config');
    } catch (err) {
      this.nextAt = this.o.clock.now() + RETRY_MS;
      this.o.logger.warn({ err: (err as Error).message, retryInMs: RETRY_MS }, 'job schedules not reconciled: trying again');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running;
    await this.schedules.close();
  }
}
