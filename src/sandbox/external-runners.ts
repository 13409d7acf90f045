/**
 * Warm runners of another language (`runners:` in the config, docs/runners.md), as Celery's prefork pool keeps its
 * children: a replica keeps up to `concurrency` processes of each runner its pool serves, started before the first
 * job (a standby starts them too), each with the team's code and model loaded once, and reused job after job. A
 * process is retired after `maxTasksPerChild` jobs or once its memory with its children's has passed `maxMemory`, and
 * a fresh one starts at once in its place. One that passes a job's time limit, grows past `maxMemory` during a job,
 * ignores a cancel or dies is killed (its whole process group) and replaced; the job fails with a reason saying which,
 * and is retried per its settings.
 */
import type { Clock, Timer } from '../core/clock.js';
import { bucketIndex } from '../core/histogram.js';
import { addRunnerTally, emptyRunnerTally, type RunnerExitReason, type RunnerStatus, type RunnerTally } from '../core/records.js';
import { formatSize } from '../core/units.js';
import type { Logger } from '../system/log.js';
import { treeRss } from '../system/process-tree.js';
import { AbortedError, guarded, TimeLimitError, type JobAbort, type TaskRun } from './executor.js';
import { RunnerProcess, TaskError, type RunnerSpec } from './runner-process.js';

/** How long a runner whose job was cancelled may take to stop it by itself before it is killed. */
const ABORT_GRACE_MS = 2_000;
/** How long a retired runner may take to exit before it is killed. */
const EXIT_GRACE_MS = 5_000;
/** Between starts of a runner that keeps failing to start: 1 s, doubling, at most this. */
const MAX_BACKOFF_MS = 30_000;

export interface ExternalRunnerPoolOptions {
  spec: RunnerSpec;
  /** At most this many processes (the pool's concurrency). */
  size: number;
  /** Start `size` processes before any job (the pool's routes send this runner's tasks here); else on first use. */
  eager: boolean;
  maxTasks?: number;
  /** Bytes of RSS, the runner's with its children's. */
  maxMemory?: number;
  /** How often a busy runner's memory is read when `maxMemory` is set. */
  memoryCheckMs?: number;
  clock: Clock;
  logger: Logger;
}

interface Waiter { resolve(r: RunnerProcess): void; reject(e: Error): void }

export class ExternalRunnerPool {
  private readonly all = new Set<RunnerProcess>();
  private readonly idle: RunnerProcess[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly log: Logger;
  private seq = 0;
  private closed = false;
  private failures = 0;
  private heldUntil = 0;
  private retry?: Timer;
  private stats = { starts: 0, failedStarts: 0, lastStartupMs: undefined as number | undefined, lastError: undefined as string | undefined };
  private tally: RunnerTally = emptyRunnerTally();
  /** A runner that does not serve every task its config lists is said once. */
  private saidMissing = false;

  constructor(private readonly opts: ExternalRunnerPoolOptions) {
    this.log = opts.logger.child({ runner: opts.spec.name });
  }

  get name(): string { return this.opts.spec.name; }

  /** Starts the processes the pool keeps (all of them when eager), so that no job waits for a load. */
  warm(): void { this.replenish(); }

  /** Resolves once every process starting now has said ready or failed to start. */
  async ready(): Promise<void> {
    await Promise.all([...this.all].filter((r) => r.state === 'starting').map((r) => r.ready.catch(() => undefined)));
  }

  status(): RunnerStatus {
    const count = (s: RunnerProcess['state']) => [...this.all].filter((r) => r.state === s).length;
    return {
      name: this.name, size: this.opts.size, starting: count('starting'), idle: count('idle'), busy: count('busy'),
      starts: this.stats.starts, failedStarts: this.stats.failedStarts,
      ...(this.stats.lastStartupMs !== undefined ? { lastStartupMs: this.stats.lastStartupMs } : {}),
      ...(this.stats.lastError !== undefined ? { lastError: this.stats.lastError } : {}),
    };
  }

  /** What happened since the last call (start-ups and exits), for the replica's heartbeat. */
  takeTally(): RunnerTally {
    const t = this.tally;
    this.tally = emptyRunnerTally();
    return t;
  }

  /** Puts back a tally the heartbeat could not deliver. */
  keepTally(t: RunnerTally): void { addRunnerTally(this.tally, t); }

  /** Runs one job on a warm process of this runner, waiting for one to be free (or to start) if none is. */
  async run(run: TaskRun): Promise<unknown> {
    const r = await this.acquire(run.abort);
    if (run.abort.aborted) { this.offer(r); throw new AbortedError(run.abort.reason); }
    if (r.tasks && !r.tasks.has(run.entry.name)) {
      this.offer(r);
      throw new TaskError(`${r.label} does not serve task "${run.entry.name}" (it serves: ${[...r.tasks].join(', ') || 'none'}); register it in the runner's code, or take it out of runners.${this.name}.tasks`, false);
    }
    const id = String(++this.seq);
    const { clock, maxMemory, memoryCheckMs = 1_000 } = this.opts;
    let memoryTimer: Timer | undefined;
    let failNow!: (e: Error) => void;
    const outcome = new Promise<unknown>((ok, fail) => {
      failNow = fail;
      r.begin(id, run.entry.name, run.payload, {
        id: run.jobId, task: run.entry.name, queue: run.queue, attempt: run.attempt,
        ...(run.workdir ? { workdir: run.workdir } : {}), ...(run.timeLimit ? { timeLimit: run.timeLimit } : {}),
      }, {
        log: run.log,
        progress: run.progress,
        done: (result) => { this.release(r); ok(result); },
        error: (err) => { this.release(r); fail(err); },
      });
    });
    if (maxMemory) {
      // Read while the job runs: a runner that grows past maxMemory is stopped before it takes the host down.
      const check = () => {
        memoryTimer = clock.setTimeout(() => {
          void treeRss(r.pid!).then((rss) => {
            if (r.running !== id) return;
            if (rss !== undefined && rss > maxMemory) {
              failNow(new Error(`${r.label} used ${formatSize(rss)} with its children, past maxMemory (${formatSize(maxMemory)}): killed and replaced`));
              r.kill('max-memory');
            } else check();
          });
        }, memoryCheckMs);
      };
      check();
    }
    try {
      return await guarded(run, () => outcome, () => {
        if (!run.abort.aborted) { r.kill('time-limit'); return; } // the time limit: stop it for real, now
        // Cancelled or handed back: the runner hears it and may stop the task; one that does not is killed.
        r.cancel(id, String((run.abort.reason as Error)?.message ?? run.abort.reason ?? 'cancelled'));
        clock.setTimeout(() => { if (r.running === id) r.kill('cancel'); }, ABORT_GRACE_MS);
      });
    } catch (err) {
      if (err instanceof TimeLimitError) err.message += `: ${r.label} was killed and is replaced`;
      throw err;
    } finally {
      memoryTimer?.cancel();
    }
  }

  /** Lets every process go: idle ones are asked to exit, busy ones (none after a drain) killed; waiters fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.retry?.cancel();
    for (const w of this.waiters.splice(0)) w.reject(new AbortedError(new Error('the replica is stopping')));
    const all = [...this.all];
    for (const r of all) if (r.state === 'idle') r.retire('closed'); else r.kill('closed');
    const timer = this.opts.clock.setTimeout(() => { for (const r of all) r.kill('closed'); }, EXIT_GRACE_MS);
    await Promise.all(all.map((r) => r.exited));
    timer.cancel();
  }

  private live(): number {
    let n = 0;
    for (const r of this.all) if (r.state === 'starting' || r.state === 'idle' || r.state === 'busy') n++;
    return n;
  }

  /** Keeps as many processes as wanted: all `size` when eager, else as many as jobs need. */
  private replenish(): void {
    if (this.closed) return;
    const busy = [...this.all].filter((r) => r.state === 'busy').length;
    const want = this.opts.eager ? this.opts.size : Math.min(this.opts.size, busy + this.waiters.length);
    if (this.live() >= want) return;
    const now = this.opts.clock.now();
    if (now < this.heldUntil) {
      // A runner that keeps failing to start is tried again after a pause, not in a loop.
      this.retry ??= this.opts.clock.setTimeout(() => { this.retry = undefined; this.replenish(); }, this.heldUntil - now);
      return;
    }
    while (this.live() < want) this.spawn();
  }

  private spawn(): void {
    const { clock } = this.opts;
    const r = new RunnerProcess(this.opts.spec, {
      clock,
      output: (line, stream) => this.log.info({ runnerPid: r.pid, stream, line }, 'runner output'),
      problem: (message) => this.log.warn({ runnerPid: r.pid }, message),
    });
    this.all.add(r);
    r.ready.then(() => {
      this.failures = 0;
      this.stats.starts++;
      this.stats.lastStartupMs = r.startupMs;
      this.stats.lastError = undefined;
      this.tally.starts++;
      this.tally.startMs += r.startupMs!;
      const b = bucketIndex(r.startupMs! / 1000);
      this.tally.startup[b] = (this.tally.startup[b] ?? 0) + 1;
      this.log.info({ runnerPid: r.pid, startupMs: r.startupMs }, 'runner ready');
      const missing = r.tasks ? this.opts.spec.tasks.filter((t) => !r.tasks!.has(t)) : [];
      if (missing.length && !this.saidMissing) {
        this.saidMissing = true;
        this.log.warn({ missing, serves: [...r.tasks!] }, `runner "${this.name}" does not serve ${missing.join(', ')}, which runners.${this.name}.tasks lists: their jobs will fail until its code registers them`);
      }
      this.offer(r);
    }, (err: Error) => {
      this.failures++;
      this.stats.failedStarts++;
      this.stats.lastError = err.message;
      const delay = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** (this.failures - 1));
      this.heldUntil = clock.now() + delay;
      this.log.error({ err: err.message, retryInMs: delay }, 'runner failed to start');
      // The job that waited longest learns why; the others wait for the next start.
      this.waiters.shift()?.reject(err);
    });
    void r.exited.then((how) => {
      this.all.delete(r);
      const i = this.idle.indexOf(r);
      if (i >= 0) this.idle.splice(i, 1);
      const reason: RunnerExitReason = r.startupMs === undefined && !r.endedFor ? 'start-failed' : (r.endedFor as RunnerExitReason | undefined) ?? 'crashed';
      this.tally.exits[reason] = (this.tally.exits[reason] ?? 0) + 1;
      if (!this.closed && reason === 'crashed') this.log.warn({ runnerPid: r.pid, how }, 'runner exited by itself: replacing it');
      else if (!this.closed && (reason === 'time-limit' || reason === 'max-memory' || reason === 'cancel')) this.log.warn({ runnerPid: r.pid, reason }, 'runner killed: replacing it');
      this.replenish();
    });
  }

  /** A process free for work: to the job that waited longest, else to the idle list. */
  private offer(r: RunnerProcess): void {
    if (r.state !== 'idle') return;
    const w = this.waiters.shift();
    if (w) w.resolve(r);
    else this.idle.push(r);
  }

  private acquire(abort: JobAbort): Promise<RunnerProcess> {
    const r = this.idle.pop();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.reject(new AbortedError(new Error('the replica is stopping')));
    return new Promise<RunnerProcess>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      this.waiters.push(w);
      // Cancelled while waiting for a process: it leaves the line (a later guard replaces this listener).
      abort.onAbort((reason) => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) { this.waiters.splice(i, 1); reject(new AbortedError(reason)); }
      });
      this.replenish();
    });
  }

  /** A process back from a job: reused, or retired when it has done its share or grown too big. */
  private release(r: RunnerProcess): void {
    if (r.state !== 'idle') return; // killed meanwhile: its exit replaces it
    const { maxTasks, maxMemory } = this.opts;
    if (this.closed) { r.retire('closed'); return; }
    if (maxTasks && r.jobs >= maxTasks) { this.retire(r, 'max-tasks', { jobs: r.jobs }); return; }
    if (!maxMemory) { this.offer(r); return; }
    void treeRss(r.pid!).then((rss) => {
      if (r.state !== 'idle') return;
      if (rss !== undefined && rss > maxMemory) this.retire(r, 'max-memory', { rss, maxMemory });
      else this.offer(r);
    });
  }

  private retire(r: RunnerProcess, why: RunnerExitReason, fields: Record<string, unknown>): void {
    this.log.info({ runnerPid: r.pid, ...fields }, why === 'max-tasks' ? 'maxTasksPerChild reached: replacing the runner' : 'maxMemory passed: replacing the runner');
    r.retire(why);
    const timer = this.opts.clock.setTimeout(() => r.kill(why), EXIT_GRACE_MS);
    void r.exited.then(() => timer.cancel());
    this.replenish();
  }
}
