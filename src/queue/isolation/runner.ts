/**
 * Entry point of an isolated task run, in a child process (process isolation) or a worker thread (thread
 * isolation). It loads the task's module, runs one job and reports back over the parent channel:
 * `{t:'log'}`, `{t:'progress'}`, then `{t:'done'}` or `{t:'error'}`.
 */
import { parentPort, workerData, isMainThread } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { isTaskDefinition, type TaskDefinition } from '../../core/task.js';

export interface RunnerRequest { module: string; task: string; payload: unknown; jobId: string; queue: string; attempt: number }
export type RunnerMessage =
  | { t: 'log'; line: string }
  | { t: 'progress'; value: number | object }
  | { t: 'done'; result: unknown }
  | { t: 'error'; name: string; message: string; stack?: string };

const send: (m: RunnerMessage) => void = isMainThread
  ? (m) => process.send!(m)
  : (m) => parentPort!.postMessage(m);

async function runOne(req: RunnerRequest): Promise<void> {
  const abort = new AbortController();
  try {
    const mod = await import(pathToFileURL(req.module).href) as Record<string, unknown>;
    const def = Object.values(mod).flatMap((v) => (Array.isArray(v) ? v : [v]))
      .find((v): v is TaskDefinition => isTaskDefinition(v) && v.name === req.task);
    if (!def) throw new Error(`task "${req.task}" is not exported by ${req.module}`);
    const result = await def.handler(req.payload, {
      jobId: req.jobId, task: req.task, queue: req.queue, attempt: req.attempt,
      log: (line) => send({ t: 'log', line: String(line) }),
      progress: (value) => send({ t: 'progress', value }),
      signal: abort.signal,
    });
    send({ t: 'done', result });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ t: 'error', name: err.name, message: err.message, stack: err.stack });
  }
}

if (isMainThread) {
  // The parent going away (even by SIGKILL) closes the channel: do not outlive it.
  process.on('disconnect', () => process.exit(1));
  process.once('message', (req: RunnerRequest) => {
    runOne(req).then(() => process.disconnect());
  });
} else {
  void runOne(workerData as RunnerRequest);
}
