/**
 * Trireme's public API for task modules and applications: defining tasks, and a client to submit and follow jobs.
 * It loads nothing heavy until a client is created, so a task module may import it freely. Embedding a replica, the
 * controller or the HTTP API: `trireme-jobs/worker`, `trireme-jobs/control`, `trireme-jobs/server`. Everything else
 * is internal.
 */
export {
  defineTask, declareTask,
  type TaskContext, type TaskDefinition, type TaskHandler, type TaskOptions, type TaskRef, type PayloadSchema, type PayloadOf, type ResultOf,
} from './core/task.js';
export { createClient, findLocalRedis, type ClientOptions } from './jobs/create-client.js';
export type { TriremeClient, SubmitOptions, Submitted, JobView, JobHandle, TaskHandle } from './jobs/client.js';
export type { JobQuery, JobPage, JobEvent, JobStateFilter } from './jobs/operations.js';
export { ConfigError } from './core/errors.js';
export { NotReplicatedError, SubmitError } from './jobs/errors.js';
export { RedisNotFoundError } from './redis/errors.js';
export type { Config, ConfigInput, PoolConfig } from './core/config.js';
export { ManualClock, type Clock, type Timer } from './core/clock.js';
export { systemClock } from './system/system-clock.js';
export { RECYCLE_EXIT_CODE } from './core/replica.js';
