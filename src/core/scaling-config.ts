/**
 * A pool's `scaling:` block: the policies' settings, Kubernetes HPA behaviour for the hpa policy, time windows, and
 * the preset and defaults applied once at parse time, so every reader (the planning pass, the exporters, the faces)
 * sees the values the autoscaler runs with.
 */
import { z } from 'zod';
import { PRESETS, DEFAULT_SCALING, type PresetValues } from './presets.js';
import { count, duration } from './config-fields.js';

const hpaPolicy = z.strictObject({ type: z.enum(['Pods', 'Percent']), value: z.number().int().positive(), periodSeconds: z.number().int().positive().max(1800) });
const hpaRules = z.strictObject({
  stabilizationWindowSeconds: z.number().int().min(0).max(3600).optional(),
  selectPolicy: z.enum(['Max', 'Min', 'Disabled']).optional(),
  policies: z.array(hpaPolicy).optional(),
});

const schedule = z.strictObject({
  /** Days the window applies, mon..sun; all days when left out. */
  days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).optional(),
  from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'write a time as HH:MM, e.g. 08:00'),
  to: z.string().regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'write a time as HH:MM, e.g. 18:00'),
  /** Minutes east of UTC that from/to are written in; 0 (UTC) when left out. */
  utcOffsetMinutes: z.number().int().min(-720).max(840).default(0),
  min: count.optional(),
  max: count.optional(),
});

const scalingFields = z.strictObject({
  preset: z.enum(['conservative', 'aggressive', 'cost-optimised']).optional(),
  policy: z.enum(['threshold', 'target', 'hpa']).optional(),
  min: count.default(0),
  max: count.default(1),
  /** threshold: scale up when waiting + running >= this. */
  scaleUpThreshold: z.number().min(0).default(1),
  /** threshold: scale down when waiting + running <= this. */
  scaleDownThreshold: z.number().min(0).default(0),
  /** target: jobs (waiting + running) per concurrency slot the pool aims to keep. */
  targetBacklogPerSlot: z.number().positive().optional(),
  /** target: the queue wait the pool accepts; measured service times turn it into a backlog per slot. */
  targetWait: duration.optional(),
  /** hpa: the per-replica value of (waiting + running) the HPA aims at, like a KEDA list-length target. */
  hpaTarget: z.number().positive().default(5),
  /** hpa: Kubernetes HPA v2 behaviour; Kubernetes' defaults where left out. */
  behavior: z.strictObject({ scaleUp: hpaRules.optional(), scaleDown: hpaRules.optional() }).optional(),
  cooldownUp: duration.optional(),
  cooldownDown: duration.optional(),
  /** A scale-down only goes as low as the highest recommendation of this window. */
  stabilization: duration.optional(),
  /** Scale to min after the pool has had no work for this long. */
  idleShutdown: duration.optional(),
  /** How long a new replica takes to serve; replicas still starting count as capacity that is coming. */
  startupTime: duration.default(5_000),
  /**
   * Learned keep-warm (pools at min 0; on by default there): once the idle gaps between bursts are regular, stop the
   * last replica early and start one just before the next burst is due; until then, and when they are not, idleShutdown.
   */
  keepWarm: z.boolean().optional(),
  schedules: z.array(schedule).default([]),
});

/** The hpa policy is Kubernetes' algorithm: its timing lives in `behavior`, so these would be silently ignored. */
const HPA_IGNORES = ['cooldownUp', 'cooldownDown', 'stabilization', 'idleShutdown', 'keepWarm'] as const;

/**
 * A pool's scaling settings, resolved once here: the preset and the defaults are applied, so every reader (the
 * planning pass, the exporters, the faces) sees the values the autoscaler runs with.
 */
export const scalingSchema = scalingFields.superRefine((s, ctx) => {
  if (s.policy !== 'hpa') return;
  for (const field of HPA_IGNORES) {
    if (s[field] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: 'the hpa policy does not read this; set scaling.behavior (scaleUp/scaleDown stabilizationWindowSeconds and policies) as for a Kubernetes HPA, or use policy target' });
    }
  }
}).transform((s): ResolvedScaling => resolveScaling(s));

/** A pool's scaling settings as written (before the preset and defaults are applied). */
export type ScalingInput = z.output<typeof scalingFields>;
/** Scaling settings with the preset and defaults applied: what the autoscaler reads. */
export interface ResolvedScaling extends Omit<ScalingInput, keyof PresetValues>, PresetValues {}

/** Applies a pool's preset and the defaults (the schema does it once; exported for tests that build settings by hand). */
export function resolveScaling(s: ScalingInput): ResolvedScaling {
  const base = s.preset ? PRESETS[s.preset] : DEFAULT_SCALING;
  return {
    ...s,
    policy: s.policy ?? base.policy,
    cooldownUp: s.cooldownUp ?? base.cooldownUp,
    cooldownDown: s.cooldownDown ?? base.cooldownDown,
    stabilization: s.stabilization ?? base.stabilization,
    idleShutdown: s.idleShutdown ?? base.idleShutdown,
    targetBacklogPerSlot: s.targetBacklogPerSlot ?? base.targetBacklogPerSlot,
  };
}
