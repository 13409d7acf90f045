/**
 * Kubernetes HPA v2 semantics on Trireme's signals, following the upstream controller (pkg/controller/podautoscaler):
 * an AverageValue target on load per replica, a 10 % tolerance, then behaviours: stabilisation windows (scale-up
 * takes the lowest recommendation of its window, scale-down the highest) and rate policies (Pods / Percent per
 * period, chosen by selectPolicy Max / Min / Disabled) measured from the replica count at the start of each period.
 * Like KEDA, it activates a pool at zero to the needed count directly (the HPA itself cannot leave zero).
 */
import { load, type Observation } from '../observation.js';

export interface HpaPolicy { type: 'Pods' | 'Percent'; value: number; periodSeconds: number }
export interface HpaRules { stabilizationWindowSeconds?: number; selectPolicy?: 'Max' | 'Min' | 'Disabled'; policies?: HpaPolicy[] }
export interface HpaSettings { hpaTarget: number; behavior?: { scaleUp?: HpaRules; scaleDown?: HpaRules }; min: number; max: number }

export interface HpaMemory {
  recommendations: { at: number; value: number }[];
  scaleUps: { at: number; delta: number }[];
  scaleDowns: { at: number; delta: number }[];
}

export const TOLERANCE = 0.1;
export const DEFAULT_SCALE_UP: Required<HpaRules> = {
  stabilizationWindowSeconds: 0, selectPolicy: 'Max',
  policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }],
};
export const DEFAULT_SCALE_DOWN: Required<HpaRules> = {
  stabilizationWindowSeconds: 300, selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

export const emptyHpaMemory = (): HpaMemory => ({ recommendations: [], scaleUps: [], scaleDowns: [] });

/** The HPA's raw recommendation: ceil(total / target) outside the tolerance band, else the current count. */
export function hpaRecommendation(metricTotal: number, targetPerReplica: number, current: number): number {
  if (current === 0) return Math.ceil(metricTotal / targetPerReplica);
  const ratio = metricTotal / (targetPerReplica * current);
  if (Math.abs(1 - ratio) <= TOLERANCE) return current;
  return Math.ceil(metricTotal / targetPerReplica);
}

const changeIn = (events: { at: number; delta: number }[], now: number, periodSeconds: number) =>
  events.filter((e) => e.at > now - periodSeconds * 1000).reduce((sum, e) => sum + e.delta, 0);

export function scaleUpLimit(current: number, mem: HpaMemory, rules: Required<HpaRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Infinity : -Infinity;
  for (const p of rules.policies) {
    const start = current - changeIn(mem.scaleUps, now, p.periodSeconds) + changeIn(mem.scaleDowns, now, p.periodSeconds);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

export function scaleDownLimit(current: number, mem: HpaMemory, rules: Required<HpaRules>, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? -Infinity : Infinity;
  for (const p of rules.policies) {
    const start = current - changeIn(mem.scaleUps, now, p.periodSeconds) + changeIn(mem.scaleDowns, now, p.periodSeconds);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

function rules(given: HpaRules | undefined, defaults: Required<HpaRules>): Required<HpaRules> {
  return {
    stabilizationWindowSeconds: given?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: given?.selectPolicy ?? defaults.selectPolicy,
    policies: given?.policies?.length ? given.policies : defaults.policies,
  };
}

/** One HPA sync: recommendation, stabilisation, rate limits, bounds. Returns the new count and updated memory. */
export function hpa(o: Observation, s: HpaSettings, current: number, mem: HpaMemory, now: number): { desired: number; reason: string; memory: HpaMemory; raw: number } {
  const up = rules(s.behavior?.scaleUp, DEFAULT_SCALE_UP);
  const down = rules(s.behavior?.scaleDown, DEFAULT_SCALE_DOWN);
  const total = load(o);
  const raw = hpaRecommendation(total, s.hpaTarget, current);

  // Stabilisation, as upstream: the lowest recommendation of the up window and the highest of the down window.
  const upCut = now - up.stabilizationWindowSeconds * 1000;
  const downCut = now - down.stabilizationWindowSeconds * 1000;
  let upRec = raw;
  let downRec = raw;
  for (const r of mem.recommendations) {
    if (r.at > upCut) upRec = Math.min(upRec, r.value);
    if (r.at > downCut) downRec = Math.max(downRec, r.value);
  }
  let stabilized = current;
  if (stabilized < upRec) stabilized = upRec;
  if (stabilized > downRec) stabilized = downRec;
  const keepFrom = now - Math.max(up.stabilizationWindowSeconds, down.stabilizationWindowSeconds) * 1000;
  const recommendations = [...mem.recommendations.filter((r) => r.at > keepFrom), { at: now, value: raw }];

  let desired = stabilized;
  let why = `load ${total} / target ${s.hpaTarget} per replica -> ${raw}`;
  if (stabilized !== raw) why += `, stabilised to ${stabilized}`;
  if (current === 0 && raw > 0) {
    desired = Math.min(raw, s.max); // activation from zero, as KEDA does
  } else if (desired > current) {
    const limit = Math.min(s.max, Math.max(current, scaleUpLimit(current, mem, up, now)));
    if (desired > limit) { desired = limit; why += `, rate-limited to ${limit}`; }
  } else if (desired < current) {
    const limit = Math.max(s.min, Math.min(current, scaleDownLimit(current, mem, down, now)));
    if (desired < limit) { desired = limit; why += `, rate-limited to ${limit}`; }
  }
  desired = Math.min(s.max, Math.max(s.min, desired));
  const longest = Math.max(...up.policies.map((p) => p.periodSeconds), ...down.policies.map((p) => p.periodSeconds)) * 1000;
  const events = (list: { at: number; delta: number }[]) => list.filter((e) => e.at > now - longest);
  const memory: HpaMemory = {
    recommendations,
    scaleUps: desired > current ? [...events(mem.scaleUps), { at: now, delta: desired - current }] : events(mem.scaleUps),
    scaleDowns: desired < current ? [...events(mem.scaleDowns), { at: now, delta: current - desired }] : events(mem.scaleDowns),
  };
  return { desired, reason: why, memory, raw };
}
