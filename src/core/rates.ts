/**
 * Arrival rate and mean service time per pool, as exponentially weighted moving averages of the counters that
 * clients (submitted) and replicas (completed, serviceMs) keep in Redis. Plain data, updated by a pure function: the
 * planning pass carries it in each pool's memory.
 */

export interface Counters { submitted: number; completed: number; failed: number; serviceMs: number }

export interface Rates {
  /** Jobs per second submitted. */
  arrivalRate: number;
  /** Jobs per second finishing (completed or failed). */
  completionRate: number;
  /** Mean seconds a job runs once started. */
  serviceTime: number;
  /** The sample the next one is measured against. */
  last?: { at: number; c: Counters };
}

export const emptyRates = (): Rates => ({ arrivalRate: 0, completionRate: 0, serviceTime: 0 });

const ALPHA = 0.3;

/** The rates after a new sample of the cumulative counters at `at`. */
export function updateRates(r: Rates, at: number, c: Counters): Rates {
  const last = { at, c };
  if (!r.last || at <= r.last.at) return { ...r, last };
  const dt = (at - r.last.at) / 1000;
  const arrivals = Math.max(0, c.submitted - r.last.c.submitted);
  const done = (c.completed + c.failed) - (r.last.c.completed + r.last.c.failed);
  const ms = c.serviceMs - r.last.c.serviceMs;
  let serviceTime = r.serviceTime;
  if (done > 0 && ms >= 0) {
    const mean = ms / done / 1000;
    serviceTime = serviceTime === 0 ? mean : serviceTime + ALPHA * (mean - serviceTime);
  }
  return {
    arrivalRate: r.arrivalRate + ALPHA * (arrivals / dt - r.arrivalRate),
    completionRate: r.completionRate + ALPHA * (Math.max(0, done) / dt - r.completionRate),
    serviceTime,
    last,
  };
}

/** The counters of several queues added up (a pool's). */
export function sumCounters(queues: string[], counters: Map<string, Counters>): Counters {
  const c = { submitted: 0, completed: 0, failed: 0, serviceMs: 0 };
  for (const q of queues) {
    const s = counters.get(q);
    if (s) { c.submitted += s.submitted; c.completed += s.completed; c.failed += s.failed; c.serviceMs += s.serviceMs; }
  }
  return c;
}
