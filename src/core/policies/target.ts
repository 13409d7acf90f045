/**
 * Backlog-aware sizing. Three demands, the largest wins:
 *  - backlog: (waiting + running) / (concurrency x backlogPerSlot) replicas, so each slot has at most
 *    `backlogPerSlot` jobs queued on it;
 *  - flow (Little's law): arrivalRate x serviceTime jobs are in service on average, which must fit in
 *    replicas x concurrency;
 *  - measured wait (with `targetWait`): when the oldest waiting job has waited past targetWait while every ready slot
 *    is busy, more replicas now, in proportion to how far past it is (at least one more, at most one slot per job).
 * With `targetWait` the backlog per slot comes from measured service time: a slot clears targetWait / serviceTime
 * jobs within the accepted wait (AWS's "acceptable backlog per instance", computed for the user). Depth alone
 * misleads both ways: ten 1 s jobs and ten thousand 1 ms jobs clear in the same 10 s, and three small jobs queued
 * behind long ones wait however small the queue; the estimate sizes the first, the measured age catches the second.
 * No tolerance band: one job more than the slots can take is a reason to grow, and a pool at zero goes to its size
 * in one step.
 */
import { load, type Observation } from '../observation.js';

export interface TargetSettings { concurrency: number; targetBacklogPerSlot: number; targetWait?: number }

const secs = (ms: number) => `${+(ms / 1000).toFixed(1)}s`;

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
  const waited = waitDemand(o, s, l);
  const desired = Math.max(backlog, flow, running, waited);
  const parts = [`load ${l} at ${how} -> ${backlog}`];
  if (flow > 0) parts.push(`flow ${o.arrivalRate.toFixed(2)}/s x ${o.serviceTime.toFixed(1)}s -> ${flow}`);
  if (waited > 0) parts.push(`oldest waited ${secs(o.oldestWait!)} > ${secs(s.targetWait!)} with every slot busy -> ${waited}`);
  return { desired, reason: parts.join(', ') };
}

/**
 * Replicas the measured wait asks for: 0 unless the oldest job has waited past targetWait while every slot of the
 * ready replicas is busy (with a free slot the job is not waiting for capacity). Then ready x (wait / targetWait),
 * at least one more than ready and at most one slot per job of the load. Replicas still starting are left out of
 * the ratio: they are the capacity already on its way, and counting them would compound the ratio pass after pass.
 */
function waitDemand(o: Observation, s: TargetSettings, l: number): number {
  if (s.targetWait === undefined || o.oldestWait === undefined || o.oldestWait <= s.targetWait) return 0;
  const ready = o.replicas.idle + o.replicas.busy;
  if (o.running < ready * s.concurrency) return 0;
  return Math.min(Math.ceil(l / s.concurrency), Math.max(ready + 1, Math.ceil((ready * o.oldestWait) / s.targetWait)));
}
