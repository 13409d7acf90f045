/**
 * A private redis-server for when no Redis is configured: started from PATH on a free loopback port, data under
 * `.trireme/redis` with AOF on, so jobs survive a restart of `trireme serve`. Workers started by `serve` are given
 * its URL; a second command in the same folder reuses the running one (its port is kept in `.trireme/redis/port`).
 * Started `detached` (by one-off verbs such as `submit`), it outlives the command so queued jobs stay reachable.
 *
 * It is private to the account that runs it: a password generated on first use (`.trireme/redis/password`, mode
 * 0600) is given to redis-server in a config file of the same mode (never on its command line, which every account
 * can read), every command finds the URL with it, and the folder is 0700 with its files 0600 (redis-server runs
 * under umask 077). A folder from an older version, with no password, gets one the next time its server starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { RedisNotFoundError } from './errors.js';
import { processAlive } from '../system/host.js';

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

/** Whether a Redis answers at `url`: 'ok', 'auth' (it answers but refuses these credentials), or 'down'. */
async function probe(url: string): Promise<'ok' | 'auth' | 'down'> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG' ? 'ok' : 'down';
  } catch (e) {
    return /NOAUTH|WRONGPASS|invalid password/i.test((e as Error).message) ? 'auth' : 'down';
  } finally { r.disconnect(); }
}

const answers = async (url: string) => (await probe(url)) === 'ok';

const urlOf = (port: number, password?: string) => `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}`;

/** The password kept under `dir`, made (64 hex characters, mode 0600) when `create` and there is none. */
async function passwordOf(dir: string, create: boolean): Promise<string | undefined> {
  const file = join(dir, 'password');
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (kept || !create) return kept || undefined;
  const made = randomBytes(32).toString('hex');
  // "wx": two commands starting at once keep the first one's password.
  await writeFile(file, `${made}\n`, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
  return (await readFile(file, 'utf8')).trim();
}

/** The folder 0700 and what is in it 0600 (folders 0700): files an older version made with the umask's modes too. */
async function privatise(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath ?? e.path, e.name);
    if (e.isDirectory()) await chmod(path, 0o700).catch(() => {});
    else if (e.isFile()) await chmod(path, 0o600).catch(() => {});
  }
}

/**
 * The URL (with its password) of the private redis-server running on `port` for `dir`: with the password kept
 * there, or with none when the server is one an older version started without (it gets one when next started).
 * Undefined when nothing answers there. A server that refuses the kept password is not ours to reuse: an error.
 */
async function running(dir: string, port: number): Promise<string | undefined> {
  const password = await passwordOf(dir, false);
  const first = await probe(urlOf(port, password));
  if (first === 'ok') return urlOf(port, password);
  if (first === 'down') return undefined;
  if (password && (await probe(urlOf(port))) === 'ok') return urlOf(port);
  throw new Error(`the private Redis on port ${port} refuses the password in ${join(dir, 'password')}; stop that redis-server, or remove ${join(dir, 'port')} if it is not this folder's`);
}

/**
 * The URL of the private redis-server kept under `dataDir` (`.trireme/redis` beside a config file) when one is
 * running, with its password; undefined when none answers. Starts nothing.
 */
export async function findLocalRedis(dataDir = '.trireme/redis'): Promise<string | undefined> {
  const dir = resolve(dataDir);
  const port = Number(await readFile(join(dir, 'port'), 'utf8').catch(() => ''));
  if (!port) return undefined;
  return running(dir, port);
}

/** Starts (or reuses) the private redis-server under `dataDir`. */
export async function startEmbeddedRedis(dataDir = '.trireme/redis', opts: { binary?: string; detached?: boolean; port?: number } = {}): Promise<EmbeddedRedis> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const portFile = join(dir, 'port');
  const previous = Number(await readFile(portFile, 'utf8').catch(() => ''));
  const reused = previous ? await running(dir, previous) : undefined;
  if (reused) return { url: reused, started: false, stop: async () => {} };
  await privatise(dir);
  const password = (await passwordOf(dir, true))!;
  // The password goes in a config file only the owner reads; options on the command line follow it.
  const conf = join(dir, 'redis.conf');
  await writeFile(conf, `# Written by trireme for the private redis-server of this folder; the password is also in ./password\nrequirepass ${password}\n`, { mode: 0o600 });
  await chmod(conf, 0o600);
  const port = opts.port ?? await freePort();
  // umask 077 while it starts: the AOF and log files redis-server makes are the owner's alone (spawn is synchronous).
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn(opts.binary ?? 'redis-server', [
      conf, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '',
      '--protected-mode', 'yes', '--logfile', join(dir, 'redis.log'),
    ], { stdio: 'ignore', detached: opts.detached });
  } finally {
    process.umask(umask);
  }
  if (opts.detached) child.unref();
  const spawned = await new Promise<boolean>((ok) => {
    child.once('spawn', () => ok(true));
    child.once('error', () => ok(false));
  });
  if (!spawned) throw new RedisNotFoundError();
  const url = urlOf(port, password);
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}; see ${join(dir, 'redis.log')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await writeFile(portFile, String(port), { mode: 0o600 });
  return {
    url,
    started: true,
    stop: () => new Promise<void>((done) => {
      if (child.exitCode !== null) return done();
      // A detached server is unref'd (it may outlive the command): referenced again, or a command with nothing else
      // left to do exits before the server does, and whatever awaits this stop never runs.
      child.ref();
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
  await writeFile(join(resolve(dataDir), 'owner'), String(process.pid), { mode: 0o600 });
}
