/** Running real `trireme` processes from tests, and reaping them afterwards. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from '../helpers.js';

const started: ChildProcess[] = [];

export interface Proc { child: ChildProcess; output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

export function trireme(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  // TRIREME_PARENT_PID: if this test process dies (a timeout kills it), serve and workers shut down instead of lingering.
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TRIREME_LOG_LEVEL: 'info', TRIREME_PARENT_PID: String(process.pid), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  started.push(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  return { child, output: () => out, exited };
}

/** Runs a CLI command to completion. */
export async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  const p = trireme(args, env);
  const { code } = await p.exited;
  return { code, out: p.output() };
}

/**
 * Stops every process a test started: SIGTERM first, so that `serve` drains and stops its own worker replicas while
 * Redis is still up (a SIGKILLed serve leaves orphans that wait out their drain grace), then SIGKILL after 15 s.
 */
export async function reapAll(): Promise<void> {
  await Promise.all(started.map(async (c) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await gone;
    clearTimeout(timer);
  }));
  started.length = 0;
}
