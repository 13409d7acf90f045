/** A private redis-server for a benchmark run, on a free loopback port, with nothing persisted. */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../src/redis/embedded.js';

export async function benchRedis(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try { await r.connect(); await r.ping(); r.disconnect(); break; } catch { r.disconnect(); await new Promise((x) => setTimeout(x, 50)); }
  }
  return { url, stop: () => child.kill('SIGKILL') };
}

/** Commands the server has run since its stats were last reset (`CONFIG RESETSTAT`), leaving out the bench's own. */
export async function commandCalls(admin: Redis): Promise<number> {
  let calls = 0;
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (!['info', 'config|resetstat', 'flushall'].includes(m[1])) calls += Number(m[2]);
  }
  return calls;
}
