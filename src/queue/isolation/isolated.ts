/**
 * Process and thread isolation: each job runs in a fresh child process or worker thread, so a crash, a leak or a
 * stuck loop stays with that job. Both can be stopped for real on a time limit: the process by SIGKILL, the thread
 * by terminate().
 */
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { guarded, type Executor, type TaskRun } from './executor.js';
import { runCommand } from './command.js';
import type { RunnerMessage, RunnerRequest } from './runner.js';

const RUNNER = fileURLToPath(new URL('./runner' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url));
/** Children load TypeScript task modules through tsx, the same loader the CLI runs under. */
const LOADER_ARGS = ['--import', import.meta.resolve('tsx')];
const THREAD_ENTRY = fileURLToPath(new URL('./thread-entry.mjs', import.meta.url));

function request(run: TaskRun): RunnerRequest {
  if (run.entry.kind !== 'function') throw new Error('isolated runners take TypeScript tasks');
  return { module: run.entry.module, task: run.entry.name, payload: run.payload, jobId: run.jobId, queue: run.queue, attempt: run.attempt };
}

/** Turns runner messages into the run's log/progress calls and the promise's outcome. */
function handle(run: TaskRun, ok: (v: unknown) => void, fail: (e: Error) => void) {
  return (m: RunnerMessage) => {
    if (m.t === 'log') run.log(m.line);
    else if (m.t === 'progress') run.progress(m.value);
    else if (m.t === 'done') ok(m.result);
    else {
      const err = new Error(m.message);
      err.name = m.name;
      if (m.stack) err.stack = m.stack;
      fail(err);
    }
  };
}

export class ProcessExecutor implements Executor {
  run(run: TaskRun): Promise<unknown> {
    if (run.entry.kind === 'command') return runCommand(run);
    let child: ReturnType<typeof fork> | undefined;
    return guarded(run, () => new Promise((ok, fail) => {
      let outcome: { ok: boolean; value: unknown } | undefined;
      child = fork(RUNNER, [], { execArgv: LOADER_ARGS, env: { ...process.env, ...run.env }, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', handle(run, (v) => { outcome = { ok: true, value: v }; }, (e) => { outcome = { ok: false, value: e }; }));
      child.once('error', (e) => fail(e));
      child.once('exit', (code, signal) => {
        if (outcome?.ok) ok(outcome.value);
        else if (outcome) fail(outcome.value as Error);
        else fail(new Error(`task process exited with ${signal ? `signal ${signal}` : `code ${code}`} before finishing`));
      });
      child.send(request(run));
    }), () => { child?.kill('SIGKILL'); });
  }
}

export class ThreadExecutor implements Executor {
  run(run: TaskRun): Promise<unknown> {
    if (run.entry.kind === 'command') return runCommand(run);
    let worker: Worker | undefined;
    return guarded(run, () => new Promise((ok, fail) => {
      worker = new Worker(THREAD_ENTRY, { workerData: { ...request(run), runner: new URL(`file://${RUNNER}`).href }, env: { ...process.env, ...run.env } });
      let settled = false;
      worker.on('message', handle(run, (v) => { settled = true; ok(v); void worker!.terminate(); }, (e) => { settled = true; fail(e); void worker!.terminate(); }));
      worker.once('error', (e) => { settled = true; fail(e); });
      worker.once('exit', (code) => { if (!settled) fail(new Error(`task thread exited with code ${code} before finishing`)); });
    }), () => { void worker?.terminate(); });
  }
}
