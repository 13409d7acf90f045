/**
 * The systemd driver's settings, typed once for the driver and the unit it exports, and the names of that unit: the
 * template (`trireme-worker@.service` unless `drivers.systemd.unit` says otherwise) and its instances, one replica
 * each (`trireme-worker@POOL-N.service`).
 */
import { z } from 'zod';
import type { Config } from '../../core/config.js';
import { parseDuration, parseSize } from '../../core/units.js';

export const KIND = 'systemd';

const sizeOf = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseSize(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});
const hostSchema = z.strictObject({
  /** The host's name: what its replicas report as their host (its hostname, or TRIREME_HOSTNAME there). */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, ".", "_" or "-"'),
  /** `user@host` for `systemctl --host` (SSH); left out: this machine. */
  address: z.string().min(1).optional(),
  cpu: z.number().positive(),
  memory: sizeOf,
  gpu: z.number().int().min(0).default(0),
});
export const sharedSchema = z.strictObject({
  /** The template unit's name, without `@.service`. */
  unit: z.string().regex(/^[A-Za-z0-9:_.-]+$/).default('trireme-worker'),
  /** The user's service manager (systemctl --user) rather than the system's. */
  user: z.boolean().default(false),
  /** The systemctl command. */
  command: z.array(z.string().min(1)).min(1).default(['systemctl']),
  /** The hosts replicas may run on; left out: this machine alone, with its whole capacity. */
  hosts: z.array(hostSchema).min(1).optional(),
  /** How long a host may take to answer before it counts as unreachable. */
  timeout: z.union([z.string(), z.number()]).default('10s').transform((v) => parseDuration(v)),
});
export const poolSchema = z.strictObject({
  /** The hosts this pool's replicas may run on (by name); default: all. */
  hosts: z.array(z.string()).min(1).optional(),
});

export type SystemdSettings = z.output<typeof sharedSchema>;
export type SystemdPoolSettings = z.output<typeof poolSchema>;
export type HostSpec = z.output<typeof hostSchema>;

/**
 * `drivers.systemd` as the config holds it (validated by the config parser wherever a pool runs on systemd), or
 * every default where the config has none (`export systemd` of pools on other drivers).
 */
export function sharedSettings(config: Config): SystemdSettings {
  return (config.drivers[KIND] as SystemdSettings | undefined) ?? sharedSchema.parse({});
}

/** A pool's own settings for this driver; none for a pool on another driver. */
export function poolSettings(config: Config, pool: string): SystemdPoolSettings {
  const d = config.pools[pool].driver;
  return d.kind === KIND ? (d.settings as SystemdPoolSettings) : {};
}

/** The template unit's names, from `drivers.systemd.unit`. */
export interface UnitNames {
  /** The template's file name: `trireme-worker@.service`. */
  template: string;
  /** What `systemctl list-units` matches every instance with: `trireme-worker@*.service`. */
  pattern: string;
  /** One instance's unit: `trireme-worker@heavy-1.service`. */
  instance(instance: string): string;
  /** The instance a unit name is of, or undefined for another unit. */
  instanceOf(unit: string): string | undefined;
}

export function unitNames(settings: SystemdSettings): UnitNames {
  const unit = settings.unit;
  const match = new RegExp(`^${unit.replace(/[.]/g, '\\.')}@(.+)\\.service$`);
  return {
    template: `${unit}@.service`,
    pattern: `${unit}@*.service`,
    instance: (instance) => `${unit}@${instance}.service`,
    instanceOf: (name) => match.exec(name)?.[1],
  };
}
