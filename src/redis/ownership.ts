/**
 * Who stops the private redis-server (embedded-redis.ts), and when. `serve` owns it and stops it last when it exits,
 * also one it found already running (left by a serve that crashed). A one-off command (`submit`, a `worker` run by
 * hand) that had to start it stops it when done, unless a serve has taken it over meanwhile or another process still
 * uses it: a private server is not left running for good behind the user's back. Its data (AOF) stays in
 * `.trireme/redis`, so what was submitted is there for the next serve.
 */
import { connect } from './connection.js';
import { within } from '../system/deadline.js';

/**
 * Whether any connection other than this one is open on Redis; undefined when it cannot be asked. A connection the
 * caller has just closed may still be listed for a moment (longer on a busy machine, where the server is slow to see
 * the socket close), so a busy answer is checked again for up to 5 s; an idle list answers at once.
 */
async function othersConnected(url: string): Promise<boolean | undefined> {
  const redis = connect(url, 'trireme-release');
  try {
    const id = await within(redis.client('ID'), 2_000, undefined);
    if (id === undefined) return undefined;
    for (let i = 0; ; i++) {
      const list = await within(redis.client('LIST') as Promise<string>, 2_000, undefined);
      if (list === undefined) return undefined;
      const others = list.split('\n').filter((l) => l.trim() && !l.startsWith(`id=${id} `)).length;
      if (others === 0 || i === 50) return others > 0;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    redis.disconnect();
  }
}

/** Stops the Redis at `url` with SHUTDOWN (its AOF is written out first); resolves once it no longer answers. */
export async function shutdownRedis(url: string): Promise<void> {
  const redis = connect(url, 'trireme-shutdown');
  try {
    // The server closes the connection as it goes: that is the answer.
    await within(redis.call('SHUTDOWN').then(() => undefined, () => undefined), 5_000, undefined);
  } finally {
    redis.disconnect();
  }
}

/**
 * Stops the private Redis a one-off command started, once the command is done with it: not when a serve owns it
 * now (`owned`), nor while other processes are connected. Returns whether it was stopped.
 */
export async function releasePrivateRedis(url: string, stop: () => Promise<void>, owned: () => Promise<boolean>): Promise<boolean> {
  if (await owned()) return false;
  if ((await othersConnected(url)) !== false) return false;
  await stop();
  return true;
}
