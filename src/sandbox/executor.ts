/**
 * How one job's code runs. Every isolation mode takes the same TaskRun and either returns the task's result or
 * throws; a time limit is enforced by each mode as strongly as it can: in-process aborts the signal and stops waiting,
 * thread terminates the thread, process and command kill the child with SIGKILL.
 */
import type { TaskEntry } from '../core/project.js';

export interface TaskRun {
  entry: TaskEntry;
  payload: unknown;
  jobId: string;
  queue: string;
  attempt: number;
  /** The job's folder on storage.dir, when storage is configured. */
  workdir?: string;
  log(line: string): void;
  progress(value: number | object): void;
  /** Fires on cancel or hand-back; the executor stops the task as hard as its mode allows. */
  abort: JobAbort;
  /** Milliseconds, or undefined for no limit. */
  timeLimit?: number;
  /** Extra environment for child processes (the pool's env is already in the replica's own). */
  env?: Record<string, string>;
}

export interface Executor {
  run(run: TaskRun): Promise<unknown>;
  /** Gets ready for the first job (isolated modes start a runner). */
  warm?(): void;
  /** Lets go of what the executor holds (runners). */
  close?(): Promise<void>;
}

export class TimeLimitError extends Error {
  constructor(limit: number) {
    super(`time limit of ${limit} ms exceeded`);
    this.name = 'TimeLimitError';
  }
}

export class AbortedError extends Error {
  constructor(reason: unknown) {
    super(`aborted: ${reason instanceof Error ? reason.message : String(reason ?? 'cancelled')}`);
    this.name = 'AbortedError';
  }
}

/**
 * One job's abort: a cancel or a drain's hand-back. Cheap on the hot path — no AbortController (Node's EventTarget
 * costs microseconds per job) until a task actually reads `ctx.signal` — and one listener, the executor's guard.
 */
export class JobAbort {
  private ctl?: AbortController;
  private listener?: (reason: unknown) => void;
  aborted = false;
  reason: unknown;

  /** The AbortSignal a task sees, made on first use. */
  get signal(): AbortSignal {
    if (!this.ctl) {
      this.ctl = new AbortController();
      if (this.aborted) this.ctl.abort(this.reason);
    }
    return this.ctl.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.ctl?.abort(reason);
    this.listener?.(reason);
  }

  /** Calls `fn` once on abort (at once if it already happened). One listener: the executor's guard. */
  onAbort(fn: (reason: unknown) => void): void {
    if (this.aborted) fn(this.reason);
    else this.listener = fn;
  }
}

/**
 * Runs `start` under a time limit and the job's abort. `stop` is called once when either fires, so the mode can kill
 * what it started; the returned promise rejects at once with the reason. `start` gets a thunk for the signal the task
 * should see, so that a task that never reads it costs no AbortSignal.
 */
export function guarded<T>(run: TaskRun, start: (signal: () => AbortSignal) => Promise<T>, stop: () => void = () => {}): Promise<T> {
  if (!run.timeLimit) {
    // The hot path: no timer, no controller; the job's abort rejects the one promise.
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      run.abort.onAbort((reason) => { if (settled) return; settled = true; stop(); reject(new AbortedError(reason)); });
      if (settled) return;
      start(() => run.abort.signal).then((v) => { settled = true; resolve(v); }, (e) => { settled = true; reject(e); });
    });
  }
  const inner = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const fail = (err: Error) => finish(() => { inner.abort(err); stop(); reject(err); });
    const timer = setTimeout(() => fail(new TimeLimitError(run.timeLimit!)), run.timeLimit);
    run.abort.onAbort((reason) => fail(new AbortedError(reason)));
    if (settled) return;
    start(() => inner.signal).then((v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
  });
}
