/**
 * Where job history stands in Redis (replica/run-outbox.ts writes the records, recorder.ts takes them to PostgreSQL):
 * for /readyz, doctor and /metrics.
 */
import type { Redis } from '../redis/connection.js';
import { keys } from '../redis/keys.js';
import { ownPrefix } from '../redis/keyspace.js';

/** Where history stands in Redis: records waiting for PostgreSQL, when the oldest of them finished, and those set aside. */
export interface OutboxState { waiting: number; oldestFinishedAt?: number; rejected: number }

export async function outboxState(redis: Redis, configPrefix: string): Promise<OutboxState> {
  const prefix = ownPrefix(redis, configPrefix);
  const [[, waiting], [, head], [, rejected]] = (await redis.pipeline()
    .llen(keys.historyRuns(prefix)).lindex(keys.historyRuns(prefix), 0).llen(keys.historyRejected(prefix)).exec()) as [Error | null, unknown][];
  let oldestFinishedAt: number | undefined;
  try {
    const f = (JSON.parse(String(head)) as { finishedAt?: unknown }).finishedAt;
    if (typeof f === 'number') oldestFinishedAt = f;
  } catch { /* no head, or one that is not JSON: the recorder sets such records aside */ }
  return { waiting: Number(waiting) || 0, oldestFinishedAt, rejected: Number(rejected) || 0 };
}
