/**
 * The systemd driver's registry entry: its settings, how it is built (the hosts checked against the pools that name
 * them), and the unit template it exports.
 */
import { ConfigError } from '../../core/errors.js';
import type { DriverKind } from '../driver.js';
import { poolsOn } from '../spec.js';
import { KIND, poolSchema, poolSettings, sharedSchema, sharedSettings } from './settings.js';
import { SystemdDriver } from './driver.js';
import { systemdUnits } from './units.js';

export const systemdDriver: DriverKind = {
  scaleIn: 'stop-replicas',
  placement: 'elsewhere',
  pool: poolSchema,
  shared: sharedSchema,
  async create(ctx) {
    const cfg = ctx.project.config;
    const s = sharedSettings(cfg);
    const { hostname, availableParallelism, totalmem } = await import('node:os');
    const hosts = s.hosts ?? [{ name: hostname(), cpu: availableParallelism(), memory: totalmem(), gpu: ctx.gpus?.length ?? 0 }];
    const mine = poolsOn(ctx.project, KIND);
    const problems: string[] = [];
    const names = new Set<string>();
    for (const [i, h] of hosts.entries()) {
      if (names.has(h.name)) problems.push(`drivers.systemd.hosts.${i}.name: "${h.name}" is named twice`);
      names.add(h.name);
    }
    const poolHosts: Record<string, string[] | undefined> = {};
    for (const name of mine) {
      const wanted = poolSettings(cfg, name).hosts;
      for (const [i, h] of (wanted ?? []).entries()) if (!names.has(h)) problems.push(`pools.${name}.driver.hosts.${i}: no host "${h}" under drivers.systemd.hosts`);
      poolHosts[name] = wanted;
      // Per-pool drop-ins are found by the unit name's prefix up to a dash: one pool's name and a dash must not
      // begin another's, or the first's settings would apply to the second's replicas too.
      for (const other of mine) if (other !== name && other.startsWith(`${name}-`)) problems.push(`pools.${other}: with the systemd driver a pool's name may not begin with another's and a dash ("${name}-"); rename one`);
    }
    if (problems.length) throw new ConfigError(problems, ctx.project.configPath ?? 'config');
    return new SystemdDriver({ ...s, hosts }, cfg.pools, poolHosts, ctx.clock, ctx.logger.child({ driver: KIND }));
  },
  exports: { systemd: systemdUnits },
};
