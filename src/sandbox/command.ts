/**
 * Command tasks: an external program gets the payload as JSON on stdin; each line it prints on stdout or stderr goes
 * to the job log as it comes; exit code 0 is success. If its last stdout line is JSON, that is the job's result.
 * A time limit or cancel kills it with SIGKILL: a program that ignores SIGTERM must not outlive its job.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { guarded, type TaskRun } from './executor.js';

export function runCommand(run: TaskRun): Promise<unknown> {
  const { entry } = run;
  if (entry.kind !== 'command') throw new Error('runCommand takes command tasks');
  const [program, ...args] = entry.command.command;
  const timeLimit = minDefined(run.timeLimit, entry.command.timeLimit);
  let child: ReturnType<typeof spawn> | undefined;
  return guarded({ ...run, timeLimit }, () => new Promise((ok, fail) => {
    child = spawn(program, args, {
      cwd: resolve(entry.baseDir, entry.command.cwd ?? '.'),
      env: { ...process.env, ...run.env, ...entry.command.env, TRIREME_JOB_ID: run.jobId, TRIREME_ATTEMPT: String(run.attempt), ...(run.workdir ? { TRIREME_WORKDIR: run.workdir } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let last = '';
    let lastErr = '';
    const out = createInterface({ input: child.stdout! });
    out.on('line', (line) => { if (line.trim()) last = line; run.log(line); });
    const err = createInterface({ input: child.stderr! });
    err.on('line', (line) => { if (line.trim()) lastErr = line; run.log(`[stderr] ${line}`); });
    child.once('error', (e) => fail(new Error(`cannot run ${program}: ${e.message}`)));
    child.stdin!.on('error', () => {}); // a program that does not read stdin must not fail the job
    child.stdin!.end(JSON.stringify(run.payload ?? {}));
    // 'close' (not 'exit') so that every line of output has been read before the job settles.
    child.once('close', (code, signal) => {
      if (code === 0) {
        try { ok(JSON.parse(last)); } catch { ok(null); }
      } else {
        fail(new Error(`${program} exited with ${signal ? `signal ${signal}` : `code ${code}`}${lastErr ? `: ${lastErr}` : ''}`));
      }
    });
  }), () => { child?.kill('SIGKILL'); });
}

export function minDefined(...values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => typeof v === 'number' && v > 0);
  return defined.length ? Math.min(...defined) : undefined;
}
