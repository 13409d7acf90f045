/**
 * Redis URLs, checked where they come in (the config's `redis` block, TRIREME_REDIS_URL) before anything connects, and
 * read into a target that says how to reach Redis: one server (`redis://`), a primary found through Sentinel
 * (`redis+sentinel://`), or a Cluster (`redis+cluster://`). The URL is the one form every part of Trireme passes on
 * (replicas get it in TRIREME_REDIS_URL), so the config's sentinel and cluster blocks are written back into one.
 * Left to the URL parser and ioredis, `localhost:6379x` reads as a URL of scheme "localhost:" and connects to
 * 127.0.0.1:6379, and `redis://localhost:6379x` fails later with a bare "Invalid URL": each problem is named here.
 */

export interface HostPort { host: string; port: number }

interface Credentials { username?: string; password?: string }

/** How to reach Redis, read from a URL. */
export type RedisTarget =
  | ({ mode: 'single'; host: string; port: number; db: number; tls: boolean } & Credentials)
  | ({
    mode: 'sentinel'; sentinels: HostPort[]; name: string; db: number; tls: boolean;
    /** Credentials for the sentinels themselves, when they ask for their own (`requirepass` in sentinel.conf). */
    sentinelUsername?: string; sentinelPassword?: string;
  } & Credentials)
  | ({ mode: 'cluster'; nodes: HostPort[]; tls: boolean } & Credentials);

export type RedisMode = RedisTarget['mode'];

const EXAMPLE = 'write redis://HOST:PORT (rediss:// for TLS), e.g. redis://127.0.0.1:6379';
const SCHEMES = 'redis:// or rediss:// (one server), redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER (Sentinel) or redis+cluster://HOST:PORT[,HOST:PORT...] (Cluster)';
const SENTINEL_EXAMPLE = 'write redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[?db=N&password=...], e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster';
const CLUSTER_EXAMPLE = 'write redis+cluster://HOST:PORT[,HOST:PORT...][?password=...], e.g. redis+cluster://10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379';
/** Query parameters each multi-host scheme takes; any other is refused (a misspelt `pasword` would be ignored silently). */
const PARAMS: Record<'sentinel' | 'cluster', string[]> = {
  sentinel: ['db', 'password', 'username', 'sentinelPassword', 'sentinelUsername'],
  cluster: ['password', 'username'],
};

/** The URL with its passwords (in the user part and in `password`/`sentinelPassword` parameters) replaced by `***`, for messages and logs. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^@/?#]*?:)[^@/?#]*@/i, '$1***@')
    .replace(/([?&](?:sentinelP|p)assword=)[^&#]*/g, '$1***');
}

/** What is wrong with `url` as a Redis URL, in words that say how to write it; undefined when it is fine. */
export function redisUrlProblem(url: string): string | undefined {
  try { parseRedisUrl(url); return undefined; } catch (e) { return (e as Error).message; }
}

/** Is `url` one of a Redis Cluster (its keys then need hash tags, see redis/keyspace.ts)? */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//i.test(url);
}

/** Reads a Redis URL; throws an Error whose message says what is wrong and how to write it. */
export function parseRedisUrl(url: string): RedisTarget {
  const shown = `"${redactRedisUrl(url)}"`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (!scheme) throw new Error(`${shown} has no scheme: ${EXAMPLE}`);
  const m = /^(rediss?)(?:\+(sentinel|cluster))?$/i.exec(scheme);
  if (!m) throw new Error(`${shown}: "${scheme}://" is not a Redis scheme; write ${SCHEMES}`);
  const tls = m[1].toLowerCase() === 'rediss';
  const mode = (m[2]?.toLowerCase() ?? 'single') as RedisMode;
  const rest = url.slice(scheme.length + 3);
  const hash = rest.indexOf('#');
  if (hash >= 0) throw new Error(`${shown}: a Redis URL has no "#" part; percent-encode a "#" in a password as %23`);
  const end = rest.search(/[/?]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const afterAuthority = end < 0 ? '' : rest.slice(end);
  const q = afterAuthority.indexOf('?');
  const path = q < 0 ? afterAuthority : afterAuthority.slice(0, q);
  const query = q < 0 ? '' : afterAuthority.slice(q + 1);
  const at = authority.lastIndexOf('@');
  const creds = userInfo(at < 0 ? '' : authority.slice(0, at), shown);
  const hostList = authority.slice(at + 1);

  if (mode === 'single') {
    const example = EXAMPLE;
    const [hp] = hostPorts(hostList, 6379, shown, example, false);
    const db = /^\/?([^?#]*)/.exec(path)![1];
    if (db !== '' && !/^\d+$/.test(db)) throw new Error(`${shown}: database "${db}" is not a number; write redis://HOST:PORT/0 or leave it out`);
    try { new URL(url); } catch { throw new Error(`${shown} is not a valid URL; ${example}`); }
    return { mode, ...hp, db: db === '' ? 0 : Number(db), tls, ...creds };
  }

  const example = mode === 'sentinel' ? SENTINEL_EXAMPLE : CLUSTER_EXAMPLE;
  const params = new Map<string, string>();
  for (const part of query ? query.split('&') : []) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (!PARAMS[mode].includes(key)) throw new Error(`${shown}: unknown parameter "${key}"; ${mode} URLs take ${PARAMS[mode].join(', ')}`);
    params.set(key, decode(eq < 0 ? '' : part.slice(eq + 1), shown));
  }
  const password = params.get('password') ?? creds.password;
  const username = params.get('username') ?? creds.username;
  const auth = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  if (mode === 'cluster') {
    const nodes = hostPorts(hostList, 6379, shown, example, true);
    if (path !== '' && path !== '/' && path !== '/0') throw new Error(`${shown}: a Redis Cluster has only database 0; leave "${path}" out`);
    return { mode, nodes, tls, ...auth };
  }
  const sentinels = hostPorts(hostList, 26379, shown, example, true);
  const segments = path.split('/').filter(Boolean);
  if (segments.length === 0) throw new Error(`${shown} names no master; ${example}`);
  if (segments.length > 2) throw new Error(`${shown}: the path is /MASTER_NAME (and optionally /DB); ${example}`);
  const name = decode(segments[0], shown);
  const dbText = params.get('db') ?? segments[1] ?? '0';
  if (!/^\d+$/.test(dbText)) throw new Error(`${shown}: database "${dbText}" is not a number; write ?db=0 or leave it out`);
  const sentinelUsername = params.get('sentinelUsername');
  const sentinelPassword = params.get('sentinelPassword');
  return {
    mode, sentinels, name, db: Number(dbText), tls, ...auth,
    ...(sentinelUsername ? { sentinelUsername } : {}), ...(sentinelPassword ? { sentinelPassword } : {}),
  };
}

/** The config's `redis.sentinel` block, as a URL. */
export interface SentinelBlock { sentinels: string[]; name: string; db?: number; username?: string; password?: string; sentinelUsername?: string; sentinelPassword?: string; tls?: boolean }
/** The config's `redis.cluster` block, as a URL. */
export interface ClusterBlock { nodes: string[]; username?: string; password?: string; tls?: boolean }

/** The URL of a `redis.sentinel` or `redis.cluster` block of the config (the hosts are checked by parseRedisUrl after). */
export function urlOfBlock(block: { sentinel: SentinelBlock } | { cluster: ClusterBlock }): string {
  const param = (k: string, v: string | number | undefined) => (v === undefined || v === '' ? [] : [`${k}=${encodeURIComponent(String(v))}`]);
  if ('sentinel' in block) {
    const s = block.sentinel;
    const query = [...param('db', s.db), ...param('username', s.username), ...param('password', s.password), ...param('sentinelUsername', s.sentinelUsername), ...param('sentinelPassword', s.sentinelPassword)];
    return `${s.tls ? 'rediss' : 'redis'}+sentinel://${s.sentinels.join(',')}/${encodeURIComponent(s.name)}${query.length ? `?${query.join('&')}` : ''}`;
  }
  const c = block.cluster;
  const query = [...param('username', c.username), ...param('password', c.password)];
  return `${c.tls ? 'rediss' : 'redis'}+cluster://${c.nodes.join(',')}${query.length ? `?${query.join('&')}` : ''}`;
}

function userInfo(text: string, shown: string): Credentials {
  if (!text) return {};
  const colon = text.indexOf(':');
  const username = decode(colon < 0 ? text : text.slice(0, colon), shown);
  const password = colon < 0 ? undefined : decode(text.slice(colon + 1), shown);
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function decode(text: string, shown: string): string {
  try { return decodeURIComponent(text); } catch { throw new Error(`${shown}: "${text}" is not percent-encoded correctly (write a "%" as %25)`); }
}

/** `h1:p1,h2,[::1]:p3`: each host with its port (`defaultPort` when left out). */
function hostPorts(list: string, defaultPort: number, shown: string, example: string, many: boolean): HostPort[] {
  const items = list.split(',');
  if (!many && items.length > 1) throw new Error(`${shown} names several hosts; one server takes one, Sentinel and Cluster URLs take several (${SCHEMES})`);
  return items.map((item) => {
    const bracketed = /^(\[[^\]]*\])(?::(.*))?$/.exec(item);
    const colon = item.lastIndexOf(':');
    const host = bracketed ? bracketed[1] : colon < 0 ? item : item.slice(0, colon);
    const port = bracketed ? bracketed[2] : colon < 0 ? undefined : item.slice(colon + 1);
    if (!host) throw new Error(`${shown} names no host${many && items.length > 1 ? ` in "${item}" (hosts are separated by commas)` : ''}; ${example}`);
    if (!bracketed && host.includes(':')) throw new Error(`${shown}: write an IPv6 address in brackets, e.g. [::1]:6379`);
    if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
      throw new Error(`${shown}: port "${port}" is not a port number (1 to 65535); ${example}`);
    }
    if (/[\s/?#@]/.test(host)) throw new Error(`${shown}: "${host}" is not a host name; ${example}`);
    return { host: bracketed ? host.slice(1, -1) : host, port: port === undefined ? defaultPort : Number(port) };
  });
}
