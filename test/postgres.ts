/**
 * A private PostgreSQL for tests: Debian's binaries (`apt-get install postgresql`), `initdb` in a temp folder, the
 * server on a free loopback port, stopped and started again on the same port and data (a test stops it to see that
 * nothing is lost). PostgreSQL refuses to run as root: as root, it runs as the `postgres` user the package created.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../src/redis/embedded.js';
import { waitFor } from './helpers.js';

export interface TestPostgres { url: string; port: number; stop(): Promise<void>; start(): Promise<void> }

/** The folder of Debian's PostgreSQL binaries, or undefined when none is installed. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin/initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'trireme-pg-'));
  const asRoot = userInfo().uid === 0;
  let uid: number | undefined;
  let gid: number | undefined;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'trireme', '--no-sync', '-E', 'UTF8'], { uid, gid, stdio: 'ignore', cwd: dir });
  const port = await freePort();
  const url = `postgres://trireme@127.0.0.1:${port}/trireme`;
  let child: ChildProcess | undefined;
  const ready = async (db: string) => waitFor(async () => {
    const c = new pg.Client({ connectionString: `postgres://trireme@127.0.0.1:${port}/${db}`, connectionTimeoutMillis: 1_000 });
    c.on('error', () => {});
    try { await c.connect(); await c.query('SELECT 1'); return true; } catch { return false; } finally { await c.end().catch(() => {}); }
  }, 30_000, 'PostgreSQL to accept connections');
  const start = async () => {
    child = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off'], { uid, gid, stdio: 'ignore', cwd: dir });
    await ready('postgres');
  };
  await start();
  const admin = new pg.Client({ connectionString: `postgres://trireme@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE trireme');
  await admin.end();
  await ready('trireme');
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    // SIGINT: PostgreSQL's fast shutdown (clients are disconnected, the data is kept).
    await new Promise<void>((done) => { c.once('exit', () => done()); c.kill('SIGINT'); });
  };
  return { url, port, stop, start };
}
