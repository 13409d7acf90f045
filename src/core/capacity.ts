/**
 * Sharing limited room between pools: the host's capacity (for the local driver, with an overcommit factor) and an
 * optional budget (total replicas, cpu, GPUs). Pools are served by priority, highest first, in three rounds: every
 * pool gets its min; then what its load needs; then, with what is left, the replicas a hold keeps (idle ones within
 * their idle timer or cooldown). So a burst of heavy work cannot take the room the light tier needs when the light
 * tier has the higher priority, and idle replicas kept "just in case" never starve another pool's waiting work: the
 * lowest-priority holds give way first.
 */
import type { Config } from './config.js';

export interface Resources { cpu: number; memory: number; gpu: number }
/**
 * A limit on what pools may hold together. `scope`: it counts only requests of that scope (`host`: the pools whose
 * replicas run on this machine, through the local driver); a limit without a scope counts every pool (a budget).
 */
export interface Limits { replicas?: number; cpu?: number; memory?: number; gpu?: number; scope?: string }
export interface PoolRequest {
  pool: string; desired: number; min: number; priority: number; resources: Resources; scope?: string;
  /** What the load needs (<= desired; the rest is held); default: desired. */
  need?: number;
}
/** `starved`: the pool got less than its load needs (not just less than a hold wanted). */
export interface Grant { granted: number; limitedBy?: string; starved?: boolean }

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
  const need = (r: PoolRequest) => Math.max(Math.min(r.min, r.desired), Math.min(r.need ?? r.desired, r.desired));
  for (const r of order) grow(r, Math.min(r.min, r.desired));
  for (const r of order) grow(r, need(r));
  for (const r of order) grow(r, r.desired);
  const out = new Map<string, Grant>();
  for (const r of order) {
    const g = granted.get(r.pool) ?? 0;
    out.set(r.pool, g < r.desired ? { granted: g, limitedBy: blocked.get(r.pool), ...(g < need(r) ? { starved: true } : {}) } : { granted: g });
  }
  return out;
}

/**
 * The limits a config sets: the host's (for pools on the local driver: the config's `capacity`, else what `host`
 * says, times `overcommit`; a resource neither gives is not limited) and the budget (every pool), when it has one.
 * The controller passes the machine it reads; the simulator whatever stands in for it.
 */
export function limitsOf(config: Pick<Config, 'capacity' | 'budget'>, host: Partial<Resources> = {}): Limits[] {
  const c = config.capacity;
  const cpu = c.cpu ?? host.cpu;
  const memory = c.memory ?? host.memory;
  const gpu = c.gpu ?? host.gpu;
  const limits: Limits[] = [];
  if (cpu !== undefined || memory !== undefined || gpu !== undefined) {
    limits.push({ scope: 'host', cpu: cpu === undefined ? undefined : cpu * c.overcommit, memory: memory === undefined ? undefined : memory * c.overcommit, gpu });
  }
  const b = config.budget;
  if (b.replicas !== undefined || b.cpu !== undefined || b.gpu !== undefined) limits.push({ ...b });
  return limits;
}

/** A decision's explanation once capacity or the budget held it to `to` (starved: below what its load needs). */
export function cappedWhy(why: string, to: number, g: Grant, starved: boolean): string {
  return `${why}, ${starved ? 'capacity-starved: ' : ''}capped at ${to} by ${g.limitedBy ?? 'capacity'}`;
}

/** A pool on this host whose max cannot be reached: `fits` of its replicas fit beside the other pools' min replicas. */
export interface RoomShortfall { pool: string; max: number; fits: number; by: 'cpu' | 'memory'; each: number; room: number }

/**
 * Pools on this host (`onHost`: the local driver's) whose max can never be reached: with the other pools' min
 * replicas in place, the host's room (capacity, else the machine, times overcommit) holds fewer of their replicas
 * than their max, so the controller would cap them below it without a word. A pool's default `resources.cpu: 1`
 * makes this common on a small machine: `max: 2` beside one other replica on 2 cores is capped at 1.
 */
export function roomShortfalls(config: Pick<Config, 'capacity' | 'budget' | 'pools'>, host: Partial<Resources>, onHost: (pool: string) => boolean): RoomShortfall[] {
  const limit = limitsOf(config, host).find((l) => l.scope === 'host');
  if (!limit) return [];
  const pools = Object.entries(config.pools).filter(([name]) => onHost(name));
  const out: RoomShortfall[] = [];
  for (const [name, p] of pools) {
    let worst: RoomShortfall | undefined;
    for (const by of ['cpu', 'memory'] as const) {
      const cap = limit[by];
      const each = p.resources[by];
      if (cap === undefined || each <= 0) continue;
      const taken = pools.filter(([other]) => other !== name).reduce((n, [, q]) => n + q.scaling.min * q.resources[by], 0);
      const room = Math.max(0, cap - taken);
      // A hair of slack: 3 x 0.1 cpu is 0.30000000000000004.
      const fits = Math.floor(room / each + 1e-9);
      if (fits < p.scaling.max && (!worst || fits < worst.fits)) worst = { pool: name, max: p.scaling.max, fits, by, each, room };
    }
    if (worst) out.push(worst);
  }
  return out;
}
