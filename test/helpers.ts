/**
 * Test helpers: a private redis-server per test file on a free loopback port (so a test can kill and restart it),
 * polling with a deadline instead of sleeps, and small project builders.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from '../src/redis/embedded.js';
import { buildProject, type Project } from '../src/project/project.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURE_TASKS = join(ROOT, 'test/fixtures/tasks.ts');
export const CLI = join(ROOT, 'bin/trireme.cjs');

export interface TestRedis { url: string; port: number; stop(): Promise<void>; kill(): Promise<void>; start(): Promise<void> }

/** `bind`: more addresses to listen on besides loopback (a test's own network namespaces reach it there). */
export async function startRedis(opts: { bind?: string[]; dir?: string } = {}): Promise<TestRedis> {
  const port = await freePort();
  // `dir`: a data folder to start from (its appendonlydir is read back), e.g. the one a private Redis of serve left.
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'trireme-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...opts.bind ?? [], ...(opts.bind?.length ? ['--protected-mode', 'no'] : []), '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
    await waitFor(async () => {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      try { await r.connect(); return (await r.ping()) === 'PONG'; } catch { return false; } finally { r.disconnect(); }
    }, 10_000, 'redis-server to answer');
  };
  const stopWith = (signal: NodeJS.Signals) => async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((done) => { c.once('exit', () => done()); c.kill(signal); });
  };
  await start();
  return { url, port, start, stop: stopWith('SIGTERM'), kill: stopWith('SIGKILL') };
}

/** Polls `cond` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A project with the fixture tasks and one pool serving `work`, with overrides merged in. */
export async function fixtureProject(pool: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Project> {
  return buildProject({
    prefix: `t${Math.random().toString(36).slice(2, 8)}`,
    tasks: [FIXTURE_TASKS],
    defaultQueue: 'work',
    pools: { main: { queues: ['work'], concurrency: 2, ...pool } },
    ...extra,
  }, { baseDir: ROOT });
}

/** mulberry32: a small seeded generator (0 <= x < 1), so a randomised test replays from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Is a process with this pid alive? */
export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
