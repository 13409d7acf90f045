/** `trireme-jobs/worker`: running a pool replica inside one's own process, on a loaded project. */
export { PoolWorker, type PoolWorkerOptions, type DrainReason } from './replica/pool-worker.js';
export { loadProject, buildProject, type Project, type TaskEntry, type LoadOptions } from './project/project.js';
export { createLogger, silentLogger, type Logger } from './system/log.js';
export { RECYCLE_EXIT_CODE } from './core/replica.js';
