/** Facts about replicas that every side shares: the worker that exits with them and the drivers that read them. */

/** Exit code of a replica that drained to recycle itself (maxTasksPerChild or maxMemory); drivers restart it at once. */
export const RECYCLE_EXIT_CODE = 75;
