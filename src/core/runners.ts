/**
 * Which pool runs which warm runner. A runner's tasks are routed like any task (explicit queue > first matching route
 * > defaultQueue); every pool serving one of those queues keeps that runner's processes warm, up to its concurrency
 * per replica. A job sent elsewhere with an explicit queue still runs: that pool starts the runner on first use.
 */
import type { Config } from './config.js';
import { Router } from './routing.js';

/** The runners whose tasks routing sends to `pool`'s queues, in config order. */
export function runnersOfPool(config: Pick<Config, 'runners' | 'routes' | 'defaultQueue' | 'pools'>, pool: string): string[] {
  const queues = new Set(config.pools[pool]?.queues ?? []);
  if (queues.size === 0) return [];
  const router = new Router(config.routes, config.defaultQueue, config.pools);
  return Object.entries(config.runners ?? {})
    .filter(([, r]) => r.tasks.some((t) => queues.has(router.queueFor(t.name, t.queue ?? r.queue))))
    .map(([name]) => name);
}
