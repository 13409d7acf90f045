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

export { assembleController as createController, type AssembleOptions as CreateControllerOptions } from './control/assemble.js';
