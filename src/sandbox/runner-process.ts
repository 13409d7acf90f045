/**
 * One warm runner process (docs/runners.md): started once, it loads its code, says `ready` on fd 4, then runs one job
 * at a time for as long as its pool keeps it. Its stdout and stderr lines go to the job it is running (to the replica's
 * log between jobs); the channel (fd 3 in, fd 4 out) carries only the protocol. It runs in a process group of its
 * own, so that a kill takes whatever it started with it, and a Ctrl-C meant for a replica run in a terminal does not
 * reach the task.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Clock, Timer } from '../core/clock.js';
import { formatDuration } from '../core/units.js';
import { encodeRequest, parseReply, REPLY_FD, REQUEST_FD, type JobInfo } from './runner-protocol.js';

/** How to start a runner: what the config says, resolved to a program, its arguments and where it runs. */
export interface RunnerSpec {
  /** The runner's name in the config (`runners.NAME`). */
  name: string;
  program: string;
  args: string[];
  cwd: string;
  /** Added to the replica's own environment. */
  env: Record<string, string>;
  /** Milliseconds it may take to say ready. */
  startTimeout: number;
  /** Where the config set it, for messages: `runners.ml.command`, `runners.ml.interpreter`. */
  source: string;
  /** The task names the config gives it (`runners.NAME.tasks`). */
  tasks: string[];
}

/** Where one run's output and outcome go. */
export interface RunSink {
  log(line: string): void;
  progress(value: number | object): void;
  done(result: unknown): void;
  error(err: Error): void;
}

export interface RunnerHooks {
  clock: Clock;
  /** A line the program printed while no job ran (start-up, between jobs). */
  output(line: string, stream: 'stdout' | 'stderr'): void;
  /** A protocol problem (a line that is not a reply), said once per line. */
  problem(message: string): void;
}

export type RunnerState = 'starting' | 'idle' | 'busy' | 'exiting' | 'dead';

/** How long the pipes may stay open after the process exits (a grandchild holding them): then the job settles anyway. */
const CLOSE_WAIT_MS = 200;
/** Lines of stderr kept (since the start, or since the job began) to explain an exit. */
const TAIL = 12;

/** A job's error as the runner reported it; `retry: false` makes the job fail for good. */
export class TaskError extends Error {
  constructor(message: string, readonly retry: boolean, stack?: string) {
    super(message);
    // BullMQ does not retry an error of this name, whatever attempts the job has left.
    this.name = retry ? 'TaskError' : 'UnrecoverableError';
    if (stack) this.stack = stack;
  }
}

export class RunnerProcess {
  state: RunnerState = 'starting';
  readonly spawnedAt: number;
  /** Milliseconds from spawn to `ready`. */
  startupMs?: number;
  /** Jobs it finished. */
  jobs = 0;
  /** The task names it said it serves at `ready`, when it said. */
  tasks?: Set<string>;
  /** Resolves at `ready`; rejects with the reason when it exits or times out first. */
  readonly ready: Promise<void>;
  /** Resolves once it has exited and its output is read, with how: `code 3`, `signal SIGKILL`. */
  readonly exited: Promise<string>;
  /** Why Trireme ended it, when it did (`time-limit`, `max-memory`, `cancel`, `max-tasks`, ...). */
  endedFor?: string;
  private current?: { id: string; sink: RunSink };
  private readonly child: ChildProcess;
  private readonly channel?: Writable;
  private readonly stderrTail: string[] = [];
  private startTimer?: Timer;
  private markReady!: () => void;
  private failReady!: (e: Error) => void;

  constructor(readonly spec: RunnerSpec, private readonly hooks: RunnerHooks) {
    this.spawnedAt = hooks.clock.now();
    this.ready = new Promise<void>((ok, fail) => { this.markReady = ok; this.failReady = fail; });
    this.ready.catch(() => {}); // a start that fails is reported to whoever awaits it, never as an unhandled rejection
    this.child = spawn(spec.program, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, TRIREME_RUNNER: spec.name },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.channel = this.child.stdio[REQUEST_FD] as Writable | undefined;
    // A runner that died cannot be written to; its exit settles what it held.
    this.channel?.on('error', () => {});
    this.lines(this.child.stdout!, (line) => (this.current ? this.current.sink.log(line) : hooks.output(line, 'stdout')));
    this.lines(this.child.stderr!, (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > TAIL) this.stderrTail.shift();
      if (this.current) this.current.sink.log(`[stderr] ${line}`); else hooks.output(line, 'stderr');
    });
    const replies = this.child.stdio[REPLY_FD] as Readable | undefined;
    if (replies) this.lines(replies, (line) => this.onReply(line));
    this.exited = new Promise<string>((done) => {
      let over = false;
      const finish = (how: string, spawnError?: Error) => { if (!over) { over = true; done(this.onExit(how, spawnError)); } };
      this.child.once('exit', (code, signal) => {
        // Every line already written to the pipes is read before the run or the start is settled.
        const closed = new Promise<void>((r) => this.child.once('close', () => r()));
        const bound = new Promise<void>((r) => hooks.clock.setTimeout(r, CLOSE_WAIT_MS));
        void Promise.race([closed, bound]).then(() => finish(signal ? `signal ${signal}` : `code ${code}`));
      });
      // A program that cannot be started emits 'error' and no 'exit'.
      this.child.once('error', (e) => { if (this.child.pid === undefined) finish(`error ${e.message}`, e); });
    });
    this.startTimer = hooks.clock.setTimeout(() => {
      if (this.state !== 'starting') return;
      this.kill('start-timeout');
    }, spec.startTimeout);
  }

  get pid(): number | undefined { return this.child.pid; }

  /** `runner "ml" (pid 123)`: how messages name it. */
  get label(): string { return `runner "${this.spec.name}"${this.child.pid ? ` (pid ${this.child.pid})` : ''}`; }

  /** Hands the runner one job; its replies go to `sink` until `done` or `error`, or the runner's exit. */
  begin(id: string, task: string, payload: unknown, job: JobInfo, sink: RunSink): void {
    this.state = 'busy';
    this.current = { id, sink };
    // An exit explains itself with this job's stderr, not an earlier one's.
    this.stderrTail.length = 0;
    this.send({ t: 'run', id, task, payload, job });
  }

  /** Asks the runner to stop the running job (it may; it is killed after a grace if it does not). */
  cancel(id: string, reason: string): void {
    if (this.current?.id === id) this.send({ t: 'cancel', id, reason });
  }

  /** Asks it to finish and exit; `why` is recorded (`max-tasks`, `max-memory`, `closed`). */
  retire(why: string): void {
    if (this.state === 'dead' || this.state === 'exiting') return;
    this.endedFor ??= why;
    this.state = 'exiting';
    this.send({ t: 'exit' });
    this.channel?.end();
  }

  /** Kills it and everything in its process group, now. */
  kill(why: string): void {
    if (this.state === 'dead') return;
    this.endedFor ??= why;
    if (this.state !== 'busy') this.state = 'exiting';
    const pid = this.child.pid;
    if (pid === undefined) return;
    try { process.kill(-pid, 'SIGKILL'); } catch { this.child.kill('SIGKILL'); }
  }

  /** The job that is running here, if any. */
  get running(): string | undefined { return this.current?.id; }

  private send(req: Parameters<typeof encodeRequest>[0]): void {
    if (this.channel?.writable) this.channel.write(encodeRequest(req));
  }

  private lines(stream: Readable, fn: (line: string) => void): void {
    stream.on('error', () => {});
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', fn);
  }

  private onReply(line: string): void {
    if (!line.trim()) return;
    const m = parseReply(line);
    if ('problem' in m) { this.hooks.problem(`${this.label}: a line on fd ${REPLY_FD} that is not a reply (${m.problem})`); return; }
    if (m.t === 'ready') {
      if (this.state !== 'starting') return;
      this.startTimer?.cancel();
      this.startupMs = this.hooks.clock.now() - this.spawnedAt;
      if (m.tasks) this.tasks = new Set(m.tasks);
      this.state = 'idle';
      this.markReady();
      return;
    }
    const cur = this.current;
    if (!cur || cur.id !== m.id) { this.hooks.problem(`${this.label}: a "${m.t}" for run ${m.id}, which is not running`); return; }
    if (m.t === 'log') cur.sink.log(m.line);
    else if (m.t === 'progress') cur.sink.progress(m.value);
    else {
      // Lines the program printed before this reply may still sit in its stdout/stderr pipes, ready in the same turn
      // of the event loop: settle after them, so that the job's log is whole and the next job's log starts clean.
      setImmediate(() => {
        if (this.current !== cur) return;
        this.current = undefined;
        this.jobs++;
        if (this.state === 'busy') this.state = 'idle';
        if (m.t === 'done') cur.sink.done(m.result ?? null);
        else {
          const head = m.type ? `${m.type}: ${m.message}` : m.message;
          cur.sink.error(new TaskError(m.traceback ? `${head}\n${m.traceback.trimEnd()}` : head, m.retry !== false, m.traceback));
        }
      });
    }
  }

  private onExit(how: string, spawnError?: Error): string {
    const was = this.state;
    this.state = 'dead';
    this.startTimer?.cancel();
    const tail = this.stderrTail.length ? `: ${this.stderrTail.slice(-5).join(' | ')}` : '';
    if (was === 'starting') {
      const why = spawnError
        ? `cannot start ${this.label}: ${this.spec.program}: ${(spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (check PATH, and ' + this.spec.source + ')' : spawnError.message}`
        : this.endedFor === 'start-timeout'
          ? `${this.label} did not say ready within ${formatDuration(this.spec.startTimeout)} (runners.${this.spec.name}.startTimeout) and was killed${tail}`
          : `${this.label} exited with ${how} before it was ready${tail}`;
      this.failReady(new Error(why));
    }
    const cur = this.current;
    if (cur) {
      this.current = undefined;
      // Killed by Trireme for a reason its caller already gave the job (time limit, memory, cancel): that reason stands.
      cur.sink.error(new Error(`${this.label} exited with ${how} in the middle of the job${this.endedFor ? ` (${this.endedFor})` : ''}${tail}`));
    }
    return how;
  }
}
