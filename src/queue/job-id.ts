/**
 * Trireme job ids carry their queue (`<queue>~<id>`), so a job can be found from its id alone. `~` cannot appear in a
 * queue name (config names allow letters, digits, ".", "_", "-"), and BullMQ forbids only ":" in custom ids.
 */
import { randomUUID } from 'node:crypto';

export function newJobId(queue: string): string {
  return `${queue}~${randomUUID()}`;
}

/** The id an idempotency key maps to: the same key on the same queue is the same job. */
export function idempotentJobId(queue: string, key: string): string {
  return `${queue}~k-${key.replace(/:/g, '_')}`;
}

export function queueOfJobId(id: string): string | undefined {
  const i = id.indexOf('~');
  return i > 0 ? id.slice(0, i) : undefined;
}
