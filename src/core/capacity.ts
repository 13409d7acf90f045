/**
 * Sharing limited room between pools: the host's capacity (for the local driver, with an overcommit factor) and an
 * optional budget (total replicas, cpu, GPUs). Pools are served by priority, highest first: every pool first gets its
 * min, then each gets what it asks in priority order while it fits. So a burst of heavy work cannot take the room the
 * light tier needs, when the light tier has the higher priority.
 */

export interface Resources { cpu: number; memory: number; gpu: number }
/**
 * A limit on what pools may hold together. `scope`: it counts only requests of that scope (`host`: the pools whose
 * replicas run on this machine, through the local driver); a limit without a scope counts every pool (a budget).
 */
export interface Limits { replicas?: number; cpu?: number; memory?: number; gpu?: number; scope?: string }
export interface PoolRequest { pool: string; desired: number; min: number; priority: number; resources: Resources; scope?: string }
export interface Grant { granted: number; limitedBy?: string }

export function allocate(requests: PoolRequest[], limits: Limits[]): Map<string, Grant> {
  const used = limits.map(() => ({ replicas: 0, cpu: 0, memory: 0, gpu: 0 }));
  const order = [...requests].sort((a, b) => b.priority - a.priority || a.pool.localeCompare(b.pool));
  const granted = new Map<string, number>(order.map((r) => [r.pool, 0]));
  const blocked = new Map<string, string>();
  const applies = (lim: Limits, r: PoolRequest) => lim.scope === undefined || lim.scope === r.scope;
  const fits = (r: PoolRequest): string | undefined => {
    for (const [i, lim] of limits.entries()) {
      if (!applies(lim, r)) continue;
      const u = used[i];
      if (lim.replicas !== undefined && u.replicas + 1 > lim.replicas) return `replicas budget ${lim.replicas}`;
      if (lim.cpu !== undefined && u.cpu + r.resources.cpu > lim.cpu + 1e-9) return `cpu ${lim.cpu}`;
      if (lim.memory !== undefined && u.memory + r.resources.memory > lim.memory) return 'memory';
      if (lim.gpu !== undefined && r.resources.gpu > 0 && u.gpu + r.resources.gpu > lim.gpu) return `gpu ${lim.gpu}`;
    }
    return undefined;
  };
  const grow = (r: PoolRequest, upTo: number) => {
    while ((granted.get(r.pool) ?? 0) < upTo) {
      const why = fits(r);
      if (why) { blocked.set(r.pool, why); return; }
      for (const [i, lim] of limits.entries()) {
        if (!applies(lim, r)) continue;
        const u = used[i];
        u.replicas++; u.cpu += r.resources.cpu; u.memory += r.resources.memory; u.gpu += r.resources.gpu;
      }
      granted.set(r.pool, (granted.get(r.pool) ?? 0) + 1);
    }
  };
  for (const r of order) grow(r, Math.min(r.min, r.desired));
  for (const r of order) grow(r, r.desired);
  const out = new Map<string, Grant>();
  for (const r of order) {
    const g = granted.get(r.pool) ?? 0;
    out.set(r.pool, g < r.desired ? { granted: g, limitedBy: blocked.get(r.pool) } : { granted: g });
  }
  return out;
}
