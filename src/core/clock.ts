/**
 * The one way Trireme reads time. Policies take `now` as an argument; the components that own timers take a Clock,
 * so tests and the simulator drive them in virtual time.
 */

export interface Timer { cancel(): void }

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): Timer;
}

/** A clock that tests advance by hand; timers fire in order of due time, ties in order of creation. */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: { due: number; seq: number; fn: () => void; live: boolean }[] = [];

  constructor(start = 0) { this.current = start; }

  now(): number { return this.current; }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => t.live);
      this.timers.sort((a, b) => a.due - b.due || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.due > target) break;
      this.current = next.due;
      next.live = false;
      next.fn();
    }
    this.current = target;
  }
}
