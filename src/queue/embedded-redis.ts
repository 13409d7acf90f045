/**
 * A private redis-server for when no Redis is configured: started from PATH on a free loopback port, data under
 * `.trireme/redis` with AOF on, so jobs survive a restart of `trireme serve`. Workers started by `serve` are given
 * its URL; a second command in the same folder reuses the running one (its port is kept in `.trireme/redis/port`).
 * Started `detached` (by one-off verbs such as `submit`), it outlives the command so queued jobs stay reachable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { RedisNotFoundError } from './errors.js';
import { processAlive } from '../host.js';

export { RedisNotFoundError };

export interface EmbeddedRedis { url: string; stop(): Promise<void>; started: boolean }

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => {});
  try { await r.connect(); return (await r.ping()) === 'PONG'; } catch { return false; } finally { r.disconnect(); }
}

/**
 * The URL of the private redis-server kept under `dataDir` (`.trireme/redis` beside a config file) when one is
 * running; undefined when none answers. Starts nothing.
 */
export async function findLocalRedis(dataDir = '.trireme/redis'): Promise<string | undefined> {
  const port = Number(await readFile(join(resolve(dataDir), 'port'), 'utf8').catch(() => ''));
  if (!port) return undefined;
  const url = `redis://127.0.0.1:${port}`;
  return (await answers(url)) ? url : undefined;
}

/** Starts (or reuses) the private redis-server under `dataDir`. */
export async function startEmbeddedRedis(dataDir = '.trireme/redis', opts: { binary?: string; detached?: boolean; port?: number } = {}): Promise<EmbeddedRedis> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const portFile = join(dir, 'port');
  const previous = Number(await readFile(portFile, 'utf8').catch(() => ''));
  if (previous && await answers(`redis://127.0.0.1:${previous}`)) {
    return { url: `redis://127.0.0.1:${previous}`, started: false, stop: async () => {} };
  }
  const port = opts.port ?? await freePort();
  const child: ChildProcess = spawn(opts.binary ?? 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '',
    '--protected-mode', 'yes', '--logfile', join(dir, 'redis.log'),
  ], { stdio: 'ignore', detached: opts.detached });
  if (opts.detached) child.unref();
  const spawned = await new Promise<boolean>((ok) => {
    child.once('spawn', () => ok(true));
    child.once('error', () => ok(false));
  });
  if (!spawned) throw new RedisNotFoundError();
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}; see ${join(dir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await writeFile(portFile, String(port));
  return {
    url,
    started: true,
    stop: () => new Promise<void>((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    }),
  };
}

/**
 * Keeps the private redis-server of `serve` up: it is pinged every `intervalMs`, and after three pings in a row
 * without an answer (killed, crashed) a new one is started on the same port with the same data folder, so the AOF
 * brings the jobs back and every replica's connection comes back by itself. `onRestart` gets the new server (for
 * serve to stop last on exit). A server that cannot be started is logged and tried again on the next miss.
 */
export function superviseEmbeddedRedis(dataDir: string, url: string, opts: {
  intervalMs?: number;
  log: (level: 'info' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  onRestart: (r: EmbeddedRedis) => void;
}): { stop(): void } {
  const port = Number(new URL(url).port);
  let misses = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      if (await answers(url)) { misses = 0; return; }
      if (++misses < 3) return;
      opts.log('error', 'the private redis-server stopped answering: starting it again on the same port from its AOF', { port, dataDir });
      try {
        const r = await startEmbeddedRedis(dataDir, { detached: true, port });
        misses = 0;
        opts.log('info', 'the private redis-server is back', { port, restarted: r.started });
        opts.onRestart(r);
      } catch (e) {
        opts.log('error', 'the private redis-server could not be started again; trying on the next check', { err: (e as Error).message });
      }
    })().finally(() => { busy = false; });
  }, opts.intervalMs ?? 1_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** The pid of the serve that owns the private Redis under `dataDir`, when it is alive. */
export async function liveOwner(dataDir: string): Promise<number | undefined> {
  const pid = Number(await readFile(join(resolve(dataDir), 'owner'), 'utf8').catch(() => ''));
  return pid && pid !== process.pid && processAlive(pid) ? pid : undefined;
}

/** Marks this process as the owner (serve) of the private Redis under `dataDir`. */
export async function claimOwner(dataDir: string): Promise<void> {
  await writeFile(join(resolve(dataDir), 'owner'), String(process.pid));
}
