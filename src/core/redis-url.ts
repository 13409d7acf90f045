/**
 * A Redis URL checked where it comes in (the config's `redis.url`, TRIREME_REDIS_URL), before anything connects.
 * Left to the URL parser and ioredis, `localhost:6379x` reads as a URL of scheme "localhost:" and connects to
 * 127.0.0.1:6379, and `redis://localhost:6379x` fails later with a bare "Invalid URL": each problem is named here.
 */

/** The URL with its password replaced by `***`, for messages and logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^@/?#]*?:)[^@/?#]*@/i, '$1***@');
}

/** What is wrong with `url` as a Redis URL, in words that say how to write it; undefined when it is fine. */
export function redisUrlProblem(url: string): string | undefined {
  const shown = `"${redactRedisUrl(url)}"`;
  const example = 'write redis://HOST:PORT (rediss:// for TLS), e.g. redis://127.0.0.1:6379';
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (!scheme) return `${shown} has no scheme: ${example}`;
  if (!/^rediss?$/i.test(scheme)) return `${shown}: "${scheme}://" is not a Redis scheme; ${example}`;
  const rest = url.slice(scheme.length + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const path = end < 0 ? '' : rest.slice(end);
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const bracketed = /^(\[[^\]]*\])(?::(.*))?$/.exec(hostPort);
  const colon = hostPort.indexOf(':');
  const host = bracketed ? bracketed[1] : colon < 0 ? hostPort : hostPort.slice(0, colon);
  const port = bracketed ? bracketed[2] : colon < 0 ? undefined : hostPort.slice(colon + 1);
  if (!host) return `${shown} names no host; ${example}`;
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return `${shown}: port "${port}" is not a port number (1 to 65535); ${example}`;
  }
  const db = /^\/?([^?#]*)/.exec(path)![1];
  if (db !== '' && !/^\d+$/.test(db)) return `${shown}: database "${db}" is not a number; write redis://HOST:PORT/0 or leave it out`;
  try { new URL(url); } catch { return `${shown} is not a valid URL; ${example}`; }
  return undefined;
}
