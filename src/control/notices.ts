/**
 * What the controller tells the outside world (core/notices.ts), decided from what it does: each scale event, a pool
 * reaching its max while its load asks for more (once, until it is below max again), a driver that could not start
 * what was asked (once per distinct error, until a start succeeds), a replica whose drain ran out of grace (the
 * replicas report those through Redis), and this controller taking the lease. The notices go to `emit`
 * (control/webhooks.ts in serve) and never wait for it.
 */
import type { Decision } from '../core/autoscaler.js';
import type { Notice } from '../core/notices.js';
import type { ControlRecords } from '../core/state.js';
import type { Logger } from '../system/log.js';

export class NoticeTracker {
  /** Pools at their max with more wanted, as of the last pass. */
  private readonly atMax = new Set<string>();
  /** The last start failure said per pool. */
  private readonly startFailures = new Map<string, string>();
  private led = false;

  constructor(
    private readonly emit: (n: Notice) => void,
    private readonly records: ControlRecords,
    private readonly id: string,
    private readonly log: Logger,
  ) {}

  /** Called on every pass with whether this controller holds the lease: taking it is a notice. */
  async leading(leader: boolean, now: number): Promise<void> {
    if (!leader) { this.led = false; return; }
    if (this.led) return;
    this.led = true;
    const previous = await this.records.swapLeader?.(this.id).catch(() => null);
    this.emit({ kind: 'controller.takeover', at: now, controller: this.id, ...(previous && previous !== this.id ? { previous } : {}) });
  }

  scaled(n: Omit<Extract<Notice, { kind: 'pool.scaled' }>, 'kind'>): void {
    this.emit({ kind: 'pool.scaled', ...n });
  }

  /** A pass's decision for a pool: at its max with more wanted is said once, until the pool is below max again. */
  decided(pool: string, d: Decision, now: number): void {
    const full = d.wanted !== undefined && d.wanted > d.max && d.desired >= d.max && d.max > 0;
    if (full && !this.atMax.has(pool)) {
      this.atMax.add(pool);
      this.emit({ kind: 'pool.max_reached', at: now, pool, max: d.max, wanted: d.wanted!, reason: d.reason });
    } else if (!full && d.desired < d.max) {
      this.atMax.delete(pool);
    }
  }

  /**
   * What a start action came to. Fewer started than asked, or an error: `problem.key` says which failure it is (the
   * driver's health status, or the error), so a pool in a crash loop is said once, not on every pass.
   */
  started(pool: string, asked: number, started: number, now: number, problem?: { key: string; message: string }): void {
    if (!problem) { if (started >= asked) this.startFailures.delete(pool); return; }
    if (this.startFailures.get(pool) === problem.key) return;
    this.startFailures.set(pool, problem.key);
    this.emit({ kind: 'replica.start_failed', at: now, pool, asked, started, error: problem.message });
  }

  /** What replicas reported since the last pass (drain timeouts). */
  async fromReplicas(): Promise<void> {
    const notices = await this.records.takeNotices?.().catch((err: Error) => {
      this.log.warn({ err: err.message }, 'replica notices unreadable');
      return [];
    }) ?? [];
    for (const n of notices) this.emit(n);
  }
}
