/**
 * The planner: the seeds' capacity tables, computed from the config — cpu, memory and cost per hour at min and at max
 * replicas per pool and in total, how many hosts of a given size that takes, and warnings where a pool cannot fit.
 */
import type { Config } from '../core/config.js';
import { formatSize } from '../core/units.js';
import { table } from './report.js';
import { placementOf } from '../drivers/index.js';

export interface PlanRow { pool: string; min: number; max: number; cpuMin: number; cpuMax: number; memMin: number; memMax: number; gpuMax: number; costMin: number; costMax: number }

export function planTables(config: Config, host: { cpu: number; memory: number; gpu: number }) {
  const rows: PlanRow[] = Object.entries(config.pools).map(([pool, p]) => {
    const { min, max } = p.scaling;
    const r = p.resources;
    return { pool, min, max, cpuMin: r.cpu * min, cpuMax: r.cpu * max, memMin: r.memory * min, memMax: r.memory * max, gpuMax: r.gpu * max, costMin: p.pricePerHour * min, costMax: p.pricePerHour * max };
  });
  const sum = (k: keyof PlanRow) => rows.reduce((n, r) => n + (r[k] as number), 0);
  const total = { cpuMin: sum('cpuMin'), cpuMax: sum('cpuMax'), memMin: sum('memMin'), memMax: sum('memMax'), gpuMax: sum('gpuMax'), costMin: sum('costMin'), costMax: sum('costMax') };
  // capacity.overcommit lets the local driver's pools declare more cpu and memory than a host has (as the controller
  // allows them live): on a host they count for their declared resources divided by it. Other drivers' engines
  // (Kubernetes requests, Compose limits) do not overcommit.
  const overcommit = config.capacity.overcommit;
  const share = (pool: string) => (placementOf(config.pools[pool]) === 'this-host' ? 1 / overcommit : 1);
  const onHosts = (k: 'cpuMin' | 'cpuMax' | 'memMin' | 'memMax') => rows.reduce((n, r) => n + r[k] * share(r.pool), 0);
  const hosts = (cpu: number, mem: number) => Math.max(Math.ceil(cpu / host.cpu), Math.ceil(mem / host.memory));
  const hostsAtMin = hosts(onHosts('cpuMin'), onHosts('memMin'));
  const hostsAtMax = hosts(onHosts('cpuMax'), onHosts('memMax'));
  const warnings: string[] = [];
  for (const [pool, p] of Object.entries(config.pools)) {
    if (p.resources.cpu * share(pool) > host.cpu || p.resources.memory * share(pool) > host.memory) warnings.push(`${pool}: one replica (${p.resources.cpu} cpu, ${formatSize(p.resources.memory)}) does not fit a host of ${host.cpu} cpu, ${formatSize(host.memory)}${share(pool) < 1 ? `, even with capacity.overcommit ${overcommit}` : ''}`);
    if (p.resources.gpu > 0 && host.gpu === 0) warnings.push(`${pool}: asks for ${p.resources.gpu} GPU(s) a replica but the hosts declare none (capacity.gpu)`);
  }
  const text = [
    table([
      ['pool', 'replicas', 'cpu min', 'cpu max', 'memory min', 'memory max', 'gpu max', 'cost/h min', 'cost/h max'],
      ...rows.map((r) => [r.pool, `${r.min}-${r.max}`, String(r.cpuMin), String(r.cpuMax), formatSize(r.memMin), formatSize(r.memMax), String(r.gpuMax), r.costMin.toFixed(2), r.costMax.toFixed(2)]),
      ['total', '', String(total.cpuMin), String(total.cpuMax), formatSize(total.memMin), formatSize(total.memMax), String(total.gpuMax), total.costMin.toFixed(2), total.costMax.toFixed(2)],
    ]),
    '',
    `hosts of ${host.cpu} cpu / ${formatSize(host.memory)}: ${hostsAtMin} at min, ${hostsAtMax} at max`
      + (overcommit > 1 ? ` (capacity.overcommit ${overcommit}: the local driver's pools count for 1/${overcommit} of their declared cpu and memory)` : ''),
    ...warnings.map((w) => `warning: ${w}`),
  ].join('\n');
  return { rows, total, overcommit, hostsAtMin, hostsAtMax, warnings, text };
}
