/**
 * Backlog-aware sizing. Two demands, the larger wins:
 *  - backlog: (waiting + running) / (concurrency x backlogPerSlot) replicas, so each slot has at most
 *    `backlogPerSlot` jobs queued on it;
 *  - flow (Little's law): arrivalRate x serviceTime jobs are in service on average, which must fit in
 *    replicas x concurrency.
 * With `targetWait` the backlog per slot comes from measured service time: a slot clears targetWait / serviceTime
 * jobs within the accepted wait (AWS's "acceptable backlog per instance", computed for the user). No tolerance band:
 * one job more than the slots can take is a reason to grow, and a pool at zero goes to its size in one step.
 */
import { load, type Observation } from '../observation.js';

export interface TargetSettings { concurrency: number; targetBacklogPerSlot: number; targetWait?: number }

export function target(o: Observation, s: TargetSettings): { desired: number; reason: string } {
  const l = load(o);
  let perSlot = s.targetBacklogPerSlot;
  let how = `${perSlot}/slot`;
  if (s.targetWait !== undefined && o.serviceTime > 0) {
    perSlot = Math.max(1, (s.targetWait / 1000) / o.serviceTime);
    how = `${+perSlot.toFixed(2)}/slot for wait ${s.targetWait / 1000}s`;
  }
  const backlog = Math.ceil(l / (s.concurrency * perSlot));
  const inService = o.arrivalRate * o.serviceTime;
  // A twentieth of a slot of slack: a moving average that has decayed almost to zero must not hold a replica.
  const flow = Math.max(0, Math.ceil(inService / s.concurrency - 0.05));
  // Jobs already running keep their replicas whatever the ratios say.
  const running = Math.ceil(o.running / s.concurrency);
  const desired = Math.max(backlog, flow, running);
  const parts = [`load ${l} at ${how} -> ${backlog}`];
  if (flow > 0) parts.push(`flow ${o.arrivalRate.toFixed(2)}/s x ${o.serviceTime.toFixed(1)}s -> ${flow}`);
  return { desired, reason: parts.join(', ') };
}
