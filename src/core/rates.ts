/**
 * Arrival rate and mean service time per pool, as exponentially weighted moving averages of the counters that
 * clients (submitted) and replicas (completed, serviceMs) keep in Redis.
 */

export interface Counters { submitted: number; completed: number; failed: number; serviceMs: number }

export class RateTracker {
  private last?: { at: number; c: Counters };
  arrivalRate = 0;
  /** Jobs per second finishing (completed or failed). */
  completionRate = 0;
  serviceTime = 0;

  constructor(private readonly alpha = 0.3) {}

  update(at: number, c: Counters): void {
    if (this.last && at > this.last.at) {
      const dt = (at - this.last.at) / 1000;
      const arrivals = Math.max(0, c.submitted - this.last.c.submitted);
      this.arrivalRate += this.alpha * (arrivals / dt - this.arrivalRate);
      const done = (c.completed + c.failed) - (this.last.c.completed + this.last.c.failed);
      this.completionRate += this.alpha * (Math.max(0, done) / dt - this.completionRate);
      const ms = c.serviceMs - this.last.c.serviceMs;
      if (done > 0 && ms >= 0) {
        const mean = ms / done / 1000;
        this.serviceTime = this.serviceTime === 0 ? mean : this.serviceTime + this.alpha * (mean - this.serviceTime);
      }
    }
    this.last = { at, c };
  }
}
