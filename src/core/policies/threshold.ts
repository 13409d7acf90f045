/**
 * The seeds' rule, with the step made explicit: when load (waiting + running) reaches scaleUpThreshold the pool goes
 * straight to enough replicas for the load, not +1 a tick; when load falls to scaleDownThreshold it goes to what the
 * load needs; in between it holds.
 */
import { load, type Observation } from '../observation.js';

export interface ThresholdSettings { scaleUpThreshold: number; scaleDownThreshold: number; concurrency: number }

export function threshold(o: Observation, s: ThresholdSettings, current: number): { desired: number; reason: string } {
  const l = load(o);
  const needed = Math.ceil(l / s.concurrency);
  if (l >= s.scaleUpThreshold && l > 0) {
    return { desired: Math.max(current, needed), reason: `load ${l} >= ${s.scaleUpThreshold}` };
  }
  if (l <= s.scaleDownThreshold) {
    return { desired: Math.min(current, needed), reason: `load ${l} <= ${s.scaleDownThreshold}` };
  }
  return { desired: current, reason: `load ${l} between thresholds` };
}
