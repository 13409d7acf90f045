/** What the autoscaler sees of one pool at one instant. Built by the controller from Redis, or by the simulator. */

export interface ReplicaCounts { starting: number; idle: number; busy: number; draining: number }

export interface Observation {
  /** Jobs ready to run: BullMQ's wait list plus its prioritized set (counting the wait list alone undercounts). */
  waiting: number;
  /** Jobs running now (BullMQ active). */
  running: number;
  /** Delayed jobs that come due within the pool's startup time: capacity must be ready when they are. */
  delayedDue: number;
  /**
   * How long the pool's longest-waiting job has been runnable, ms (0 when none waits): measured, where the arrival
   * rate and service time only estimate. Undefined when the pool's signal source cannot tell.
   */
  oldestWait?: number;
  /** Jobs per second arriving (moving average); 0 when unknown. */
  arrivalRate: number;
  /** Mean seconds a job runs once started (moving average); 0 when unknown. */
  serviceTime: number;
  replicas: ReplicaCounts;
  /** False when queue counts or replica heartbeats could not be read: the autoscaler then never scales down. */
  fresh: boolean;
}

export const emptyReplicas = (): ReplicaCounts => ({ starting: 0, idle: 0, busy: 0, draining: 0 });

/** Replicas that count as capacity: serving or about to (draining ones are leaving). */
export function liveReplicas(r: ReplicaCounts): number {
  return r.starting + r.idle + r.busy;
}

/** waiting + running (+ delayed jobs coming due): the load every policy starts from. */
export function load(o: Observation): number {
  return o.waiting + o.running + o.delayedDue;
}
