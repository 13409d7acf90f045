/**
 * Warm runners for process and thread isolation. A replica keeps up to `concurrency` runners (child processes or
 * worker threads) with the pool's task modules already loaded, and one spare ready while it has free slots, so a
 * job never waits for a runner to boot once the pool is warm. A runner is reused until it has run
 * `maxTasksPerChild` jobs or grown past `maxMemory` (then it exits cleanly and a fresh one takes its place), and is
 * killed outright when a job passes its time limit: that is what isolation is for.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RunnerInit, RunnerMessage, RunnerRequest } from './runner.js';
import { AbortedError, guarded, type TaskRun } from './executor.js';
import { descendantsRss } from '../system/process-tree.js';

const DEV = import.meta.url.endsWith('.ts');
/** The runner entry beside this code: runner.ts in the sources, runner.js in the library, runner.cjs in the bundle. */
const RUNNER = fileURLToPath(new URL(`./runner${/\.[cm]?[jt]s$/.exec(import.meta.url)![0]}`, import.meta.url));
/** Running from the TypeScript sources (tests): children load them through tsx, as the test process does. */
const TSX = DEV ? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href : '';
/** How long a runner whose job was cancelled may take to stop by itself before it is killed. */
const ABORT_GRACE_MS = 2_000;

export type RunnerKind = 'process' | 'thread';

export interface RunnerPoolOptions {
  kind: RunnerKind;
  /** At most this many runners (the pool's concurrency). */
  size: number;
  /** Retire a runner after this many jobs. */
  maxTasks?: number;
  /** Retire a runner whose memory (RSS, with the programs it started) passed this many bytes after a job (process runners). */
  maxMemory?: number;
  init: RunnerInit;
}

/** One runner, process or thread, seen through the same small surface. */
interface Runner {
  readonly ready: Promise<void>;
  /** Set once `ready` has resolved: a job on a warm runner starts without waiting a turn. */
  isReady: boolean;
  /** Resolves with how it ended ("code 3", "signal SIGKILL"). */
  readonly exited: Promise<string>;
  listener?: (m: RunnerMessage) => void;
  jobs: number;
  /** A process runner's pid: what it started is counted against maxMemory with it. */
  pid?: number;
  post(m: RunnerRequest): void;
  kill(): void;
}

function start(kind: RunnerKind, init: RunnerInit): Runner {
  let markReady!: () => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<void>((ok, fail) => { markReady = ok; failReady = fail; });
  ready.catch(() => {}); // a runner that dies before it is used fails the job that awaits it, not the process
  const runner: Runner = { ready, isReady: false, exited: undefined as never, jobs: 0, post: () => {}, kill: () => {} };
  const onMessage = (m: RunnerMessage) => { if (m.t === 'ready') { runner.isReady = true; markReady(); } else runner.listener?.(m); };
  if (kind === 'process') {
    const child: ChildProcess = fork(RUNNER, [], {
      execArgv: DEV ? ['--import', TSX] : [],
      env: { ...process.env, TRIREME_RUNNER_INIT: JSON.stringify(init) },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', onMessage);
    runner.pid = child.pid;
    (runner as { exited: Promise<string> }).exited = new Promise((done) => {
      child.once('error', (e) => done(`error ${e.message}`));
      child.once('exit', (code, signal) => done(signal ? `signal ${signal}` : `code ${code}`));
    });
    runner.post = (m) => { if (child.connected) child.send(m); };
    runner.kill = () => { child.kill('SIGKILL'); };
  } else {
    const worker = DEV
      ? new Worker(`import(${JSON.stringify(TSX)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(RUNNER).href)}); })`, { eval: true, workerData: init })
      : new Worker(RUNNER, { workerData: init });
    worker.on('message', onMessage);
    (runner as { exited: Promise<string> }).exited = new Promise((done) => {
      let error = '';
      worker.once('error', (e) => { error = `error ${e.message}`; });
      worker.once('exit', (code) => done(error || `code ${code}`));
    });
    runner.post = (m) => worker.postMessage(m);
    runner.kill = () => { void worker.terminate(); };
  }
  void runner.exited.then((how) => failReady(new Error(`the task ${kind} ended (${how}) before it was ready`)));
  return runner;
}

export class RunnerPool {
  private readonly idle: Runner[] = [];
  private readonly all = new Set<Runner>();
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: RunnerPoolOptions) {}

  /** Runners alive now (busy, idle or starting). */
  get size(): number { return this.all.size; }

  /** Makes sure a runner is starting or ready for the next job, while the pool has room for one. */
  warm(): void {
    if (this.closed || this.idle.length > 0 || this.all.size >= this.opts.size) return;
    this.idle.push(this.spawn());
  }

  private spawn(): Runner {
    const r = start(this.opts.kind, this.opts.init);
    this.all.add(r);
    void r.exited.then(() => {
      this.all.delete(r);
      const i = this.idle.indexOf(r);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return r;
  }

  /** Runs one job on a warm runner (starting one if none is free). */
  run(run: TaskRun): Promise<unknown> {
    if (run.entry.kind !== 'function') throw new Error('runners take TypeScript tasks');
    const r = this.idle.pop() ?? this.spawn();
    this.warm(); // the next job finds a runner ready while slots remain
    const id = ++this.seq;
    let settled = false;
    const exchange = () => new Promise<unknown>((ok, fail) => {
      r.listener = (m) => {
        if (!('id' in m) || m.id !== id) return;
        if (m.t === 'log') run.log(m.line);
        else if (m.t === 'progress') run.progress(m.value);
        else {
          settled = true;
          r.listener = undefined;
          this.release(r, m.rss);
          if (m.t === 'done') ok(m.result);
          else fail(Object.assign(new Error(m.message), { name: m.name, ...(m.stack ? { stack: m.stack } : {}) }));
        }
      };
      void r.exited.then((how) => { if (!settled) fail(new Error(`task ${this.opts.kind} exited with ${how} before finishing`)); });
      const entry = run.entry as Extract<TaskRun['entry'], { kind: 'function' }>;
      r.post({ t: 'run', id, module: entry.module, task: entry.name, payload: run.payload, jobId: run.jobId, queue: run.queue, attempt: run.attempt, workdir: run.workdir });
    });
    const go = () => guarded(run, exchange, () => {
      if (!run.abort.aborted) { r.kill(); return; } // the time limit: stop it for real, now
      // Cancelled or handed back: the task hears its signal and may stop by itself; a runner that does not is killed.
      r.post({ t: 'abort', id, reason: String((run.abort.reason as Error)?.message ?? run.abort.reason) });
      const timer = setTimeout(() => { if (!settled) r.kill(); }, ABORT_GRACE_MS);
      void r.exited.then(() => clearTimeout(timer));
    });
    if (r.isReady) return go();
    // The job's time limit counts from when its runner can take it: a runner still booting (a busy machine, a big
    // module) gets that long again to be ready, and the job's own time starts after. A cancel or a hand-back while it
    // boots ends the job at once; the runner stays for the next one.
    return new Promise<unknown>((ok, fail) => {
      let waiting = true;
      let timer: NodeJS.Timeout | undefined;
      const stop = (err: Error) => { if (!waiting) return; waiting = false; clearTimeout(timer); fail(err); };
      if (run.timeLimit) timer = setTimeout(() => { r.kill(); stop(new Error(`the task ${this.opts.kind} was not ready within the time limit of ${run.timeLimit} ms`)); }, run.timeLimit);
      run.abort.onAbort((reason) => stop(new AbortedError(reason)));
      r.ready.then(() => {
        if (!waiting) return;
        waiting = false;
        clearTimeout(timer);
        go().then(ok, fail);
      }, (e: Error) => stop(e));
    });
  }

  /** A runner back from a job: reused, or retired when it has done its share or grown too big. */
  private release(r: Runner, rss: number): void {
    r.jobs++;
    const { maxTasks, maxMemory } = this.opts;
    // The runner reports its own RSS; what it started (a program a task ran and left) is read from /proc.
    if (this.closed || (maxTasks && r.jobs >= maxTasks) || (maxMemory && rss + (r.pid ? descendantsRss(r.pid) : 0) > maxMemory)) {
      r.post({ t: 'exit' });
      this.warm();
      return;
    }
    this.idle.push(r);
  }

  /** Lets every runner go: idle ones exit now, busy ones (there should be none after a drain) are killed. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.all];
    for (const r of all) {
      if (this.idle.includes(r)) r.post({ t: 'exit' });
      else r.kill();
    }
    const timer = setTimeout(() => { for (const r of all) r.kill(); }, 2_000);
    await Promise.all(all.map((r) => r.exited));
    clearTimeout(timer);
  }
}
