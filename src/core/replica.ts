/** Facts about replicas that every side shares: the worker that exits with them and the drivers that read them. */

/** Exit code of a replica that drained to recycle itself (maxTasksPerChild or maxMemory); drivers restart it at once. */
export const RECYCLE_EXIT_CODE = 75;

/** Why a pin above the pool's max is refused: the same words from the CLI, the API and the controller. */
export function pinAboveMax(pool: string, replicas: number, max: number): string | undefined {
  return replicas > max ? `replicas ${replicas} is above the pool's max of ${max}; raise pools.${pool}.scaling.max first` : undefined;
}

/** The pool of a systemd template instance name (`heavy-3` -> `heavy`), and its number. */
export function parseInstance(instance: string): { pool: string; n: number } | undefined {
  const m = /^(.+)-(\d+)$/.exec(instance);
  return m ? { pool: m[1], n: Number(m[2]) } : undefined;
}

/**
 * The memory one replica of a pool may use with everything it starts: what it declares (`resources.memory`, a
 * container's limit on Kubernetes and Compose, what the host's capacity counts), or `maxMemory` where that recycles
 * the replica itself (in-process and thread isolation) and is lower. The replica-memory alert fires at 90 % of it.
 */
export function memoryLimitOf(pool: { resources: { memory: number }; maxMemory?: number; isolation: string }): number {
  const recycleAt = pool.isolation !== 'process' ? pool.maxMemory : undefined;
  return recycleAt !== undefined ? Math.min(recycleAt, pool.resources.memory) : pool.resources.memory;
}
