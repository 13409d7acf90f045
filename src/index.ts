/** Trireme's public API: what users may import. Everything else is internal. */
export { defineTask, type TaskContext, type TaskDefinition, type TaskOptions, type PayloadSchema } from './core/task.js';
export { parseConfig, ConfigError, type Config, type ConfigInput, type PoolConfig } from './core/config.js';
export { decide, emptyMemory, type Decision, type AutoscalerMemory, type PoolSettings } from './core/autoscaler.js';
export type { Observation, ReplicaCounts } from './core/observation.js';
export type { Clock } from './core/clock.js';
export { loadProject, buildProject, type Project } from './project.js';
export { TriremeClient, SubmitError, type SubmitOptions, type Submitted, type JobView } from './queue/client.js';
export { PoolWorker, RECYCLE_EXIT_CODE } from './queue/worker.js';
export type { Driver, DriverReplica } from './drivers/driver.js';
export { LocalDriver } from './drivers/local.js';
export { Controller } from './control/controller.js';
