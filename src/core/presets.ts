/**
 * The three scaling strategies of the seed deployment, as named presets. A pool's own `scaling` values win over its
 * preset's; the preset only fills what the pool leaves out.
 */

export interface PresetValues {
  policy: 'threshold' | 'target' | 'hpa';
  cooldownUp: number;
  cooldownDown: number;
  stabilization: number;
  idleShutdown: number;
  targetBacklogPerSlot: number;
}

export const PRESETS: Record<'conservative' | 'aggressive' | 'cost-optimised', PresetValues> = {
  // Slow to move either way: few restarts, tolerant of short spikes.
  conservative: { policy: 'threshold', cooldownUp: 120_000, cooldownDown: 600_000, stabilization: 300_000, idleShutdown: 1_800_000, targetBacklogPerSlot: 2 },
  // Grows at once and holds capacity a while: lowest waits, highest cost.
  aggressive: { policy: 'target', cooldownUp: 0, cooldownDown: 300_000, stabilization: 120_000, idleShutdown: 900_000, targetBacklogPerSlot: 1 },
  // Grows on real backlog, drops fast: cheapest, accepts some wait.
  'cost-optimised': { policy: 'target', cooldownUp: 0, cooldownDown: 60_000, stabilization: 30_000, idleShutdown: 120_000, targetBacklogPerSlot: 3 },
};

export const DEFAULT_SCALING: PresetValues = {
  policy: 'target', cooldownUp: 0, cooldownDown: 120_000, stabilization: 60_000, idleShutdown: 300_000, targetBacklogPerSlot: 1,
};
