/**
 * Shutdown paths must end even when Redis is gone: connections retry forever (a Redis restart is an outage to wait
 * out), so a command sent while Redis is down never fails by itself. Bounded waits for those paths.
 */

/** Resolves with `promise`'s value, or with `fallback` after `ms`; never rejects. */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.catch(() => fallback),
      new Promise<T>((resolve) => { timer = setTimeout(() => resolve(fallback), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
