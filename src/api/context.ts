/** What the API's routes work with: one client, one inspector, the feed and metrics, and (inside serve) the controller. */
import type { Project } from '../core/project.js';
import type { TriremeClient } from '../jobs/client.js';
import type { Inspector } from '../control/inspect.js';
import type { Controller } from '../control/controller.js';
import type { Logger } from '../system/log.js';
import type { Metrics } from './metrics.js';
import type { LiveFeed } from './live.js';
import { ApiError } from './errors.js';
import type { JobStorage } from '../storage/job-folders.js';
import type { HistoryReader } from '../history/reader.js';
import type { RedisOutage } from '../redis/watch.js';
import type { TuneRunner } from './tune.js';

export interface ApiContext {
  project: Project;
  client: TriremeClient;
  inspector: Inspector;
  metrics: Metrics;
  live: LiveFeed;
  /** Present inside `trireme serve`: starts and stops replicas through the pools' drivers. */
  controller?: Controller;
  logger: Logger;
  /** How often job event streams look for new log lines. */
  followPollMs: number;
  /** Job files on storage.dir, when configured. */
  storage?: JobStorage;
  /** Job history in PostgreSQL, when configured. */
  history?: HistoryReader;
  /** Inside `trireme serve`: the Redis outage under way, if any (redis/watch.ts), for /readyz to say why. */
  redisOutage?: () => RedisOutage | undefined;
  /** Replays a pool's history for `GET /pools/:name/tune` (api/tune.ts). */
  tune: TuneRunner;
}

/** `name` when it is a pool; a 404 naming `field` (where the name came from, e.g. `params.name`) otherwise. */
export function poolOr404(ctx: ApiContext, name: string, field: string): string {
  if (!Object.hasOwn(ctx.project.config.pools, name)) {
    throw new ApiError(404, 'unknown_pool', `no pool "${name}"; pools: ${Object.keys(ctx.project.config.pools).join(', ')}`, field);
  }
  return name;
}

/** The history reader; a 404 saying how to turn history on (naming `field` when a parameter asked for it) otherwise. */
export function historyOr404(ctx: ApiContext, field?: string): HistoryReader {
  if (!ctx.history) throw new ApiError(404, 'history_off', 'job history is off: set history.postgres in the config (docs/storage.md)', field);
  return ctx.history;
}

/** A read from history, its failure a 503: PostgreSQL away is an outage to retry, not a bad request. */
export async function historyRead<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (e) {
    throw new ApiError(503, 'history_unavailable', `PostgreSQL cannot be reached right now (${(e as Error).message}); retry shortly`);
  }
}
