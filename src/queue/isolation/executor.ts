/**
 * How one job's code runs. Every isolation mode takes the same TaskRun and either returns the task's result or
 * throws; a time limit is enforced by each mode as strongly as it can: in-process aborts the signal and stops waiting,
 * thread terminates the thread, process and command kill the child with SIGKILL.
 */
import type { TaskEntry } from '../../project.js';

export interface TaskRun {
  entry: TaskEntry;
  payload: unknown;
  jobId: string;
  queue: string;
  attempt: number;
  log(line: string): void;
  progress(value: number | object): void;
  /** Aborted on cancel or hand-back; the executor stops the task as hard as its mode allows. */
  signal: AbortSignal;
  /** Milliseconds, or undefined for no limit. */
  timeLimit?: number;
  /** Extra environment for child processes (the pool's env is already in the replica's own). */
  env?: Record<string, string>;
}

export interface Executor {
  run(run: TaskRun): Promise<unknown>;
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
 * Runs `start` under a time limit and the run's signal. `stop` is called once when either fires, so the mode can
 * kill what it started; the returned promise rejects at once with the reason.
 */
const abortions = new WeakMap<AbortSignal, Promise<never>>();

/** One promise per signal that rejects when it aborts: shared by every job under that signal, not made per job. */
function abortion(signal: AbortSignal): Promise<never> {
  let p = abortions.get(signal);
  if (!p) {
    p = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new AbortedError(signal.reason)), { once: true }));
    p.catch(() => {}); // observed by the races below; never an unhandled rejection
    abortions.set(signal, p);
  }
  return p;
}

export function guarded<T>(run: TaskRun, start: (signal: AbortSignal) => Promise<T>, stop: () => void = () => {}): Promise<T> {
  if (!run.timeLimit) {
    // The hot path: no per-job controller, timer or listener; the run's own signal is the task's signal.
    if (run.signal.aborted) { stop(); return Promise.reject(new AbortedError(run.signal.reason)); }
    return Promise.race([start(run.signal), abortion(run.signal)]).catch((err) => {
      if (err instanceof AbortedError && run.signal.aborted) stop();
      throw err;
    });
  }
  const inner = new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (err: Error) => finish(() => { inner.abort(err); stop(); reject(err); });
    const onAbort = () => fail(new AbortedError(run.signal.reason));
    const timer = setTimeout(() => fail(new TimeLimitError(run.timeLimit!)), run.timeLimit);
    if (run.signal.aborted) return onAbort();
    run.signal.addEventListener('abort', onAbort);
    start(inner.signal).then((v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
  });
}
