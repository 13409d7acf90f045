/**
 * Queue depths and the oldest wait for observations, one round trip for every queue of a pool. Waiting is BullMQ's
 * wait list plus its prioritized set: a priority job sits only in the latter, so counting the wait list alone
 * undercounts (a common KEDA mistake). Delayed jobs count only when they come due within a horizon (the pool's
 * startup time), read from the delayed set's score, which BullMQ encodes as timestamp x 0x1000 + counter. On a Redis
 * Cluster the queues of a pool may live on different shards, and one pipeline may only address one: the reads go one
 * pipeline per hash tag, all at once.
 *
 * The oldest wait (how long the longest-waiting job of a queue has been runnable) is read by a small script
 * (OLDEST_WAIT), cheaply: a few reads per queue, whatever its depth; one call per hash tag, routed by its first key.
 */
import type { Redis } from '../redis/connection.js';
import { Keyspace } from '../redis/keyspace.js';
import type { QueueDepth, QueueLoad } from '../core/records.js';
import type { PoolRef, PoolSource, SourceContext } from './source.js';

export type { QueueDepth } from '../core/records.js';

/**
 * Per queue (ARGV: each queue's key base, `<prefix>:<queue>:`; KEYS[1] only routes the call on a Cluster): when
 * its longest-waiting job became runnable, and when the first job of its delayed set is due (-1 for none). Where each kind of waiting job's time is:
 *  - the wait list: BullMQ pushes new jobs on the left and workers take from the right, so the job at index -1 has
 *    waited longest;
 *  - the prioritized set is ordered by priority x 2^32 + a counter: the oldest job of each priority is the first of
 *    its band, so the script steps band to band (one ZRANGEBYSCORE each, at most MAX_BANDS) and keeps the oldest;
 *  - a job's runnable time is its `timestamp` (when it was added) plus the delay it was added with (its `opts`: BullMQ
 *    zeroes the `delay` field when it promotes the job), or for a retry (`atm` > 0) the start of its last attempt,
 *    the latest time BullMQ keeps for it;
 *  - the delayed set's first job is due at its score / 0x1000: a pool with no replica promotes none, so a job past
 *    due there is waiting too (the caller compares the due time with its clock).
 */
const OLDEST_WAIT = `
local MAX_BANDS = 32
local BAND = 4294967296
local function runnableSince(base, id)
  local f = redis.call('HMGET', base .. id, 'timestamp', 'opts', 'atm', 'processedOn')
  local ts = tonumber(f[1])
  if not ts then return nil end
  if (tonumber(f[3]) or 0) > 0 and tonumber(f[4]) then return tonumber(f[4]) end
  local delay = 0
  if f[2] then
    local ok, o = pcall(cjson.decode, f[2])
    if ok and type(o) == 'table' and tonumber(o.delay) then delay = tonumber(o.delay) end
  end
  return ts + delay
end
local out = {}
for i = 1, #ARGV do
  local base = ARGV[i]
  local oldest = nil
  local function consider(t) if t and (oldest == nil or t < oldest) then oldest = t end end
  local head = redis.call('LINDEX', base .. 'wait', -1)
  if head then consider(runnableSince(base, head)) end
  local from = '-inf'
  for _ = 1, MAX_BANDS do
    local r = redis.call('ZRANGEBYSCORE', base .. 'prioritized', from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #r == 0 then break end
    consider(runnableSince(base, r[1]))
    from = string.format('%.0f', (math.floor(tonumber(r[2]) / BAND) + 1) * BAND)
  end
  local d = redis.call('ZRANGE', base .. 'delayed', 0, 0, 'WITHSCORES')
  out[#out + 1] = oldest or -1
  out[#out + 1] = (#d > 0) and math.floor(tonumber(d[2]) / 4096) or -1
end
return out
`;

type WithOldest = Redis & { triremeOldestWait(...args: (string | number)[]): Promise<number[]> };

function withScript(redis: Redis): WithOldest {
  const r = redis as WithOldest;
  if (!r.triremeOldestWait) redis.defineCommand('triremeOldestWait', { numberOfKeys: 1, lua: OLDEST_WAIT });
  return r;
}

export async function queueDepths(redis: Redis, keyspace: Keyspace, queues: string[], now: number, horizonMs: number): Promise<QueueDepth[]> {
  const groups = new Map<string, string[]>();
  for (const q of queues) {
    const slot = keyspace.cluster ? keyspace.queuePrefix(q) : '';
    const g = groups.get(slot);
    if (g) g.push(q); else groups.set(slot, [q]);
  }
  const depths = new Map<string, QueueDepth>();
  await Promise.all([...groups.values()].map(async (group) => {
    const p = withScript(redis).pipeline() as ReturnType<Redis['pipeline']> & { triremeOldestWait(...args: (string | number)[]): unknown };
    for (const q of group) {
      const k = (s: string) => keyspace.queueKey(q, s);
      p.llen(k('wait')).zcard(k('prioritized')).llen(k('active')).zcard(k('delayed'))
        .zcount(k('delayed'), 0, (now + horizonMs + 1) * 0x1000 - 1).zcard(k('failed')).zcard(k('completed'));
    }
    // KEYS[1] routes the call to the shard of this group (its keys share one hash tag); ARGV: each queue's key base.
    p.triremeOldestWait(keyspace.queueKey(group[0], 'wait'), ...group.map((q) => keyspace.queueKey(q, '')));
    const res = await p.exec();
    if (!res) throw new Error('no reply from Redis');
    const reply = (j: number) => {
      const [err, v] = res[j];
      if (err) throw err;
      return v;
    };
    const oldest = reply(group.length * 7) as number[];
    group.forEach((queue, i) => {
      const v = (j: number) => Number(reply(i * 7 + j));
      const waitingSince = Number(oldest[2 * i]);
      const firstDue = Number(oldest[2 * i + 1]);
      const since = [waitingSince >= 0 ? waitingSince : undefined, firstDue >= 0 && firstDue <= now ? firstDue : undefined]
        .filter((t): t is number => t !== undefined);
      depths.set(queue, {
        queue, waiting: v(0), prioritized: v(1), active: v(2), delayed: v(3), delayedDue: v(4), failed: v(5), completed: v(6),
        oldestWaitingSince: since.length ? Math.min(...since) : undefined,
      });
    });
  }));
  return queues.map((q) => depths.get(q)!);
}

/**
 * How long the longest-waiting job of these queues has waited at `now`, ms: 0 when none waits, undefined when jobs
 * wait and no queue could say since when (a source that keeps no enqueue time).
 */
export function oldestWait(depths: QueueDepth[], now: number): number | undefined {
  let since: number | undefined;
  let unknown = false;
  for (const d of depths) {
    if (d.oldestWaitingSince !== undefined) since = Math.min(since ?? Infinity, d.oldestWaitingSince);
    else if (d.waiting + d.prioritized > 0) unknown = true;
  }
  if (since !== undefined) return Math.max(0, now - since);
  return unknown ? undefined : 0;
}

/**
 * The source of Trireme's own pools: each pool's load from its BullMQ queues (waiting with prioritized, active,
 * delayed jobs coming due within the pool's startup time, and how long the oldest has waited). Replicas heartbeat into
 * the registry themselves and count their jobs into Redis, so this source reads depths and nothing else.
 */
export function bullmqSource(ctx: SourceContext): PoolSource {
  const keyspace = new Keyspace(ctx.prefix, ctx.redis.isCluster, ctx.hashTags);
  return {
    async load(pools: PoolRef[], now: number) {
      const out = new Map<string, QueueLoad>();
      await Promise.all(pools.map(async (p) => {
        try {
          const depths = await queueDepths(ctx.redis, keyspace, p.queues, now, p.horizonMs);
          const l: QueueLoad = { waiting: 0, running: 0, delayedDue: 0, oldestWait: oldestWait(depths, now) };
          for (const d of depths) { l.waiting += d.waiting + d.prioritized; l.running += d.active; l.delayedDue += d.delayedDue; }
          out.set(p.name, l);
        } catch { /* missing from the map: that pool's metrics are stale */ }
      }));
      return out;
    },
    async close() {},
  };
}
