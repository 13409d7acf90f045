/**
 * What a task is: a named handler with options. `defineTask` brands the object so that a tasks module may export
 * anything else beside its tasks; the loader keeps only branded values.
 */

/** Anything with zod's `safeParse` shape validates a payload; zod schemas fit as they are. */
export interface PayloadSchema<P> {
  safeParse(value: unknown): { success: true; data: P } | { success: false; error: { message: string } };
}

/**
 * A schema's refusal in words, one line per field: `payload.n: expected number, got string`. zod's error carries its
 * issues (its message is their JSON, twenty lines with the regex for one bad field); another schema's message is
 * taken as it is.
 */
export function payloadProblems(error: { message: string }, root = 'payload'): string[] {
  const issues = (error as { issues?: { path?: PropertyKey[]; message?: string }[] }).issues;
  if (!Array.isArray(issues) || issues.length === 0) return [error.message];
  return issues.map((i) => {
    const path = [root, ...(i.path ?? []).map(String)].join('.');
    const message = String(i.message ?? 'invalid').replace(/^Invalid input: /, '').replace(/, received /, ', got ');
    return `${path}: ${message}`;
  });
}

/** `payload for "task" is invalid: ...`, with a line per field when there are several. */
export function invalidPayload(task: string, error: { message: string }): string {
  const lines = payloadProblems(error);
  return `payload for "${task}" is invalid:${lines.length === 1 ? ` ${lines[0]}` : lines.map((l) => `\n  ${l}`).join('')}`;
}

export interface TaskContext {
  jobId: string;
  task: string;
  queue: string;
  /** 1 on the first run, 2 on the first retry, … */
  attempt: number;
  /**
   * The job's folder on `storage.dir` (`<dir>/jobs/<job id>`), when storage is configured: uploaded files are in
   * `input/`; write results into `output/` (created before the task runs) for GET /jobs/:id/files to serve.
   */
  workdir?: string;
  /** Appends a line to the job's log (readable through the API while the job runs). */
  log(line: string): void;
  /** Reports progress, a number (0-100) or an object. */
  progress(value: number | object): void;
  /** Aborted when the job passes its time limit, is cancelled, or its worker must hand it back. */
  signal: AbortSignal;
}

export interface TaskOptions<P = unknown> {
  /** Retries after the first failure (0: run once). */
  retries?: number;
  backoff?: { type: 'fixed' | 'exponential'; delay: number };
  /** Lower runs first, as in BullMQ (1 is the highest priority); unset: plain FIFO. */
  priority?: number;
  /** Milliseconds or a duration such as `90s`; overrides the pool's timeLimit when shorter. */
  timeLimit?: number | string;
  /** Jobs with the same key are one job: a submitter may retry safely. */
  idempotencyKey?: (payload: P) => string;
  /** Validates payloads at submit time. */
  schema?: PayloadSchema<P>;
  /** Overrides routing for this task. */
  queue?: string;
}

export type TaskHandler<P, R> = (payload: P, ctx: TaskContext) => Promise<R> | R;

const BRAND = Symbol.for('trireme.task');

/**
 * A task by name, with the payload and result types it carries at compile time only. What a web app holds when it
 * submits work without importing the task's code: `declareTask<Email, Sent>('email.send')`, or `typeof sendEmail`.
 */
export interface TaskRef<P = any, R = any> {
  readonly name: string;
  /** Never set: it carries the types. */
  readonly __types?: { payload: P; result: R };
}

export interface TaskDefinition<P = any, R = any> extends TaskRef<P, R> {
  readonly [BRAND]: true;
  readonly handler: TaskHandler<P, R>;
  readonly options: TaskOptions<P>;
}

/** The payload type of a task reference or definition. */
export type PayloadOf<T> = T extends TaskRef<infer P, any> ? P : never;
/** The result type of a task reference or definition (what its handler resolves to). */
export type ResultOf<T> = T extends TaskRef<any, infer R> ? Awaited<R> : never;

/** Declares a task. Export the result from a module listed under `tasks:` in trireme.yml. */
export function defineTask<P = unknown, R = unknown>(name: string, handler: TaskHandler<P, R>, options: TaskOptions<P> = {}): TaskDefinition<P, R> {
  checkTaskName(name);
  if (typeof handler !== 'function') throw new Error(`task "${name}": handler must be a function`);
  return Object.freeze({ [BRAND]: true as const, name, handler, options });
}

/**
 * A typed reference to a task whose code lives elsewhere: `client.task(declareTask<{ to: string }, { id: string }>(
 * 'email.send')).submit({ to })` checks the payload and types the result without loading the handler.
 */
export function declareTask<P = unknown, R = unknown>(name: string): TaskRef<P, R> {
  checkTaskName(name);
  return Object.freeze({ name });
}

function checkTaskName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(name)) {
    throw new Error(`task name "${name}" must start with a letter or digit and use letters, digits, ".", "_", ":" or "-"`);
  }
}

export function isTaskDefinition(value: unknown): value is TaskDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
