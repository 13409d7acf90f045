/**
 * Entry point of an isolated runner: a child process (process isolation) or a worker thread (thread isolation). It
 * loads the pool's task modules once, says `ready`, then runs jobs one at a time for as long as its replica keeps it,
 * as Celery's prefork children do. It reports over the parent channel: `log`, `progress`, then `done` or `error`
 * with its memory, so the replica can retire it after maxTasksPerChild jobs or past maxMemory.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isTaskDefinition, type TaskDefinition } from '../core/task.js';
import { importTaskModule } from '../project/loader.js';

export interface RunRequest { t: 'run'; id: number; module: string; task: string; payload: unknown; jobId: string; queue: string; attempt: number; workdir?: string }
export type RunnerRequest = RunRequest | { t: 'abort'; id: number; reason: string } | { t: 'exit' };
export type RunnerMessage =
  | { t: 'ready' }
  | { t: 'log'; id: number; line: string }
  | { t: 'progress'; id: number; value: number | object }
  | { t: 'done'; id: number; result: unknown; rss: number }
  | { t: 'error'; id: number; name: string; message: string; stack?: string; rss: number };

/** What a runner is started with: the modules to load before it says ready. */
export interface RunnerInit { preload: string[] }

const send: (m: RunnerMessage) => void = isMainThread
  ? (m) => { process.send?.(m); }
  : (m) => parentPort!.postMessage(m);

const modules = new Map<string, Promise<Record<string, unknown>>>();
const aborts = new Map<number, AbortController>();

function load(module: string): Promise<Record<string, unknown>> {
  let m = modules.get(module);
  if (!m) modules.set(module, (m = importTaskModule(module)));
  return m;
}

async function definition(module: string, task: string): Promise<TaskDefinition> {
  const exports = await load(module);
  const def = Object.values(exports).flatMap((v) => (Array.isArray(v) ? v : [v]))
    .find((v): v is TaskDefinition => isTaskDefinition(v) && v.name === task);
  if (!def) throw new Error(`task "${task}" is not exported by ${module}`);
  return def;
}

async function run(req: RunRequest): Promise<void> {
  const abort = new AbortController();
  aborts.set(req.id, abort);
  try {
    const def = await definition(req.module, req.task);
    const result = await def.handler(req.payload, {
      jobId: req.jobId, task: req.task, queue: req.queue, attempt: req.attempt, workdir: req.workdir,
      log: (line) => send({ t: 'log', id: req.id, line: String(line) }),
      progress: (value) => send({ t: 'progress', id: req.id, value }),
      signal: abort.signal,
    });
    send({ t: 'done', id: req.id, result, rss: process.memoryUsage.rss() });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ t: 'error', id: req.id, name: err.name, message: err.message, stack: err.stack, rss: process.memoryUsage.rss() });
  } finally {
    aborts.delete(req.id);
  }
}

function onRequest(req: RunnerRequest): void {
  if (req.t === 'run') void run(req);
  else if (req.t === 'abort') aborts.get(req.id)?.abort(new Error(req.reason));
  else if (isMainThread) process.exit(0);
  else parentPort!.close();
}

async function main(): Promise<void> {
  const init: RunnerInit = isMainThread ? JSON.parse(process.env.TRIREME_RUNNER_INIT ?? '{"preload":[]}') : workerData as RunnerInit;
  // A module that fails to load fails the jobs that need it, with its error; the runner itself stays usable.
  await Promise.all(init.preload.map((m) => load(m).catch(() => undefined)));
  if (isMainThread) {
    // The replica going away (even by SIGKILL) closes the channel: a runner never outlives it.
    process.on('disconnect', () => process.exit(1));
    process.on('message', onRequest);
  } else {
    parentPort!.on('message', onRequest);
  }
  send({ t: 'ready' });
}

void main();
