/**
 * Trireme job ids carry their queue (`<queue>~<id>`), so a job can be found from its id alone. `~` cannot appear in a
 * queue name (config names allow letters, digits, ".", "_", "-"), and BullMQ forbids only ":" in custom ids.
 *
 * Most jobs are stored under their Trireme id (a custom BullMQ id: `<queue>~<uuid>`, `<queue>~k-<key>`). A job
 * submitted with `ids: 'numbered'` is numbered by BullMQ itself (cheaper: BullMQ's addJob does less for its own ids),
 * and its Trireme id is `<queue>~<number>`; the two functions below map between them. A custom id is never all digits
 * after its `~`, so the two kinds cannot be taken for each other.
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

const NUMBERED = /^\d+$/;

/** Whether BullMQ numbered this job (its id is all digits): one submitted with `ids: 'numbered'`. */
export const isNumbered = (bullmqId: string): boolean => NUMBERED.test(bullmqId);

/** The id BullMQ stores the job under: a numbered job's number, else the Trireme id itself. */
export function bullmqIdOf(id: string): string {
  const tail = id.slice(id.indexOf('~') + 1);
  return NUMBERED.test(tail) ? tail : id;
}

/** The Trireme id of the job BullMQ holds in `queue` under `bullmqId`. */
export function publicIdOf(queue: string, bullmqId: string): string {
  return NUMBERED.test(bullmqId) ? `${queue}~${bullmqId}` : bullmqId;
}
