/**
 * What each pool's autoscaler learned (keep-warm's idle gaps and periods, the flap guard's record), carried across
 * leaders: the leader writes it when it changes, and a controller that becomes leader goes on from what the last one
 * left, so a failover or a restart does not send every scale-to-zero pool back to learning.
 */
import { learnedOf, withLearned } from '../core/autoscaler.js';
import type { Planner } from '../core/plan.js';
import type { ControlRecords } from '../core/state.js';
import type { Logger } from '../system/log.js';

export class LearnedCarrier {
  /** Each pool's learned memory as last written (JSON), so that it is written only when it changes. */
  private readonly saved = new Map<string, string>();
  /** Whether the last pass held the lease. */
  private led = false;

  constructor(
    private readonly records: ControlRecords,
    /** The controller's planner, whose memory per pool is read and updated. */
    private readonly planner: Planner,
    private readonly log: Logger,
    private readonly onDropped?: (pool: string) => void,
  ) {}

  /** Called on every pass with whether it holds the lease: on becoming leader, reads what the last leader learned. */
  async lead(leader: boolean): Promise<void> {
    if (!leader) { this.led = false; return; }
    if (this.led) return;
    const learned = await this.records.learned().catch((err: Error) => {
      this.log.warn({ err: err.message }, 'learned autoscaler memory unreadable: learning afresh');
      return undefined;
    });
    // Unreadable: learn afresh, and try again next pass.
    if (!learned) return;
    this.led = true;
    for (const [pool, l] of Object.entries(learned)) {
      if (!Object.hasOwn(this.planner.specs, pool)) continue;
      const merged = withLearned(this.planner.autoscaler(pool), l);
      this.planner.setAutoscaler(pool, merged);
      this.saved.set(pool, JSON.stringify(learnedOf(merged)));
    }
  }

  /** Writes the learned memory of `pools` (those a pass acted on), the ones that changed only. */
  async save(pools: string[]): Promise<void> {
    const changed: Record<string, unknown> = {};
    const json = new Map<string, string>();
    for (const pool of pools) {
      const l = learnedOf(this.planner.autoscaler(pool));
      const j = JSON.stringify(l);
      if (this.saved.get(pool) !== j) { changed[pool] = l; json.set(pool, j); }
    }
    if (json.size === 0) return;
    await this.records.saveLearned(changed).then(() => {
      for (const [pool, j] of json) this.saved.set(pool, j);
    }, (err: Error) => {
      this.log.warn({ err: err.message }, 'learned autoscaler memory not saved');
      for (const pool of json.keys()) this.onDropped?.(pool);
    });
  }
}
