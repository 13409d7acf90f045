/**
 * `trireme-jobs/control`: the controller and its drivers inside one's own process, the pure autoscaler (the same
 * `decide` that serve and the simulator run), and the config parser.
 */
export { Controller, type ControllerOptions, type ListedReplica } from './control/controller.js';
export { plan, Planner, type PassInput, type PassOutput, type PoolPlan, type PoolSpec, type Action } from './core/plan.js';
export { LocalDriver, type LocalDriverOptions } from './drivers/local.js';
export type { Driver, StopReplicasDriver, SetCountDriver, DriverReplica, DriverTraits, PoolHealth } from './drivers/driver.js';
export { decide, emptyMemory, type Decision, type AutoscalerMemory, type PoolSettings } from './core/autoscaler.js';
export type { Observation, ReplicaCounts } from './core/observation.js';
export { parseConfig, resolveScaling } from './core/config.js';
export { loadProject, buildProject, type Project } from './project/project.js';
export { systemClock } from './system/system-clock.js';
export { ManualClock, type Clock, type Timer } from './core/clock.js';
export { createLogger, silentLogger, type Logger } from './system/log.js';
export { buildDrivers, DRIVERS } from './drivers/index.js';
export { redisControllerState, type RedisControllerState } from './control/redis-state.js';

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Controller as ControllerClass } from './control/controller.js';
import { buildDrivers as build } from './drivers/index.js';
import { redisControllerState as redisState } from './control/redis-state.js';
import { systemClock as clock0 } from './system/system-clock.js';
import { silentLogger as silent, type Logger as L } from './system/log.js';
import type { Project as P } from './core/project.js';
import type { Clock as C } from './core/clock.js';

/**
 * A controller the way `serve` builds one: its state in Redis at `redisUrl`, one driver per kind the pools name
 * (local child processes by default). Call `start()` to take part in the lease and reconcile, `stop(graceMs)` to
 * drain what it started.
 */
export async function createController(opts: { project: P; redisUrl: string; logger?: L; clock?: C; id?: string }): Promise<ControllerClass> {
  const { project, redisUrl } = opts;
  const logger = opts.logger ?? silent;
  const clock = opts.clock ?? clock0;
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`;
  const cfg = project.config;
  const drivers = await build({ project, redisUrl, clock, logger });
  const state = redisState(redisUrl, {
    prefix: cfg.prefix, holder: id, leaseTtlMs: cfg.controller.leaseTtl, eventsKept: cfg.controller.eventsKept,
    pools: cfg.pools, intervalMs: cfg.controller.interval, clock, logger,
  });
  return new ControllerClass({ project, state, drivers, clock, logger, id });
}
