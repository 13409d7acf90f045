/**
 * The Compose driver's settings, typed once for the driver and the Compose file it exports, and where a pool lives
 * in that file: its service (`pools.P.driver.service`, else the pool's name).
 */
import { z } from 'zod';
import type { Config } from '../../core/config.js';

export const KIND = 'compose';

export const sharedSchema = z.strictObject({
  /** The Compose file, relative to the config file. */
  file: z.string().min(1, 'name the Compose file, e.g. compose.yml'),
  /** The Compose project name (docker compose -p). */
  project: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lowercase letters, digits, "_" and "-", as Compose requires').default('trireme'),
  /** The Compose command: `docker compose` (v2) by default, `docker-compose` for v1. */
  command: z.array(z.string().min(1)).min(1).default(['docker', 'compose']),
  /** The Docker command, for listing and removing containers. */
  docker: z.string().min(1).default('docker'),
});
export const poolSchema = z.strictObject({
  /** The pool's service; default: the pool's name. */
  service: z.string().min(1).optional(),
});

export type ComposeSettings = z.output<typeof sharedSchema>;
export type ComposePoolSettings = z.output<typeof poolSchema>;

/** `drivers.compose` as the config holds it: the config parser requires and validates it wherever a pool runs on Compose. */
export function sharedSettings(config: Config): ComposeSettings {
  const s = config.drivers[KIND] as ComposeSettings | undefined;
  if (!s) throw new Error('drivers.compose: no pool of this config runs on the compose driver');
  return s;
}

/** The service that runs pool `pool` (the export writes every pool, whichever its driver). */
export function serviceOf(config: Config, pool: string): string {
  const d = config.pools[pool].driver;
  return (d.kind === KIND ? (d.settings as ComposePoolSettings).service : undefined) ?? pool;
}
