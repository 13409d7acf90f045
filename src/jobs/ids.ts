/**
 * Trireme job ids carry their queue (`<queue>~<id>`), so a job can be found from its id alone. `~` cannot appear in a
 * queue name (config names allow letters, digits, ".", "_", "-"), and BullMQ forbids only ":" in custom ids.
 */
import { createHash, randomUUID } from 'node:crypto';

export function newJobId(queue: string): string {
  return `${queue}~${randomUUID()}`;
}

/**
 * The id an idempotency key maps to: the same key on the same queue is the same job, and two different keys are
 * never the same job. A short key of safe characters is kept as it is (`k-order-17`, readable in the dashboard);
 * any other key (a ":", spaces, or longer than 64 characters) becomes its SHA-256 (`h-…`), so ids stay short enough
 * to address in a URL and free of BullMQ's ":".
 */
export function idempotentJobId(queue: string, key: string): string {
  if (/^[A-Za-z0-9._-]{1,64}$/.test(key)) return `${queue}~k-${key}`;
  return `${queue}~h-${createHash('sha256').update(key).digest('base64url')}`;
}

/** A run of a job schedule: BullMQ names it `repeat:<scheduler id>:<due ms>`, and Trireme's scheduler ids name the queue. */
const SCHEDULED_RUN = /^repeat:([A-Za-z0-9][A-Za-z0-9_.-]*)~s-[A-Za-z0-9][A-Za-z0-9_.-]*:\d+$/;

/** The queue a job id names, or undefined for a string that cannot be a job id (BullMQ's other ":" keys included). */
export function queueOfJobId(id: string): string | undefined {
  if (id.length > 200) return undefined;
  if (id.includes(':')) return SCHEDULED_RUN.exec(id)?.[1];
  const i = id.indexOf('~');
  return i > 0 ? id.slice(0, i) : undefined;
}
