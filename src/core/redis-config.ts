/**
 * The config's `redis` block: where Redis is (a URL, or a `sentinel` or `cluster` block that the schema writes back into
 * a URL, the one form every part of Trireme passes on), how many replicas must hold a submit before it is acknowledged
 * (`waitForReplicas`, Redis' WAIT), and, on a Cluster, which queues share a hash tag (`hashTags`). docs/redis.md.
 */
import { z } from 'zod';
import { parseDuration } from './units.js';
import { parseRedisUrl, redisUrlProblem, urlOfBlock } from './redis-url.js';

const secret = z.string().min(1).optional();
const hostList = (what: string, example: string) => z.array(z.string().min(1))
  .min(1, `list the ${what} as HOST:PORT, e.g. ${example}`)
  .superRefine((items, ctx) => items.forEach((item, i) => {
    try { if (item.includes(',')) throw new Error(); parseRedisUrl(`redis+cluster://${item}`); } catch { ctx.addIssue({ code: 'custom', path: [i], message: `"${item}" is not HOST:PORT (an IPv6 address in brackets: [::1]:6379)` }); }
  }));

const sentinelBlock = z.strictObject({
  sentinels: hostList('sentinels', '[10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379]'),
  /** The master name the sentinels monitor (`sentinel monitor NAME ...` in sentinel.conf). */
  name: z.string().min(1, 'give the master name the sentinels monitor (sentinel monitor NAME ... in sentinel.conf)'),
  db: z.number().int().min(0).optional(),
  username: secret,
  password: secret,
  sentinelUsername: secret,
  sentinelPassword: secret,
  tls: z.boolean().optional(),
});

const clusterBlock = z.strictObject({
  nodes: hostList('cluster nodes (any of them: the rest are found from these)', '[10.0.0.1:6379, 10.0.0.2:6379]'),
  username: secret,
  password: secret,
  tls: z.boolean().optional(),
});

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try { return parseDuration(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});

export const redisSchema = z.strictObject({
  /** `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://`; TRIREME_REDIS_URL overrides it. */
  url: z.string().superRefine((url, ctx) => { const problem = redisUrlProblem(url); if (problem) ctx.addIssue({ code: 'custom', message: problem }); }).optional(),
  sentinel: sentinelBlock.optional(),
  cluster: clusterBlock.optional(),
  /**
   * A submit returns only once this many replicas hold the job (Redis WAIT after the write), so that a failover
   * cannot lose a submit that was acknowledged. 0: acknowledged when the primary has it (asynchronous replication).
   */
  waitForReplicas: z.number().int().min(0).max(100).default(0),
  /** How long a submit waits for those replicas; past it the submit fails (the job may still run: retry with its idempotency key). */
  waitTimeout: duration.default(2_000),
  /**
   * Cluster only: queues that share a hash tag share a slot, and so a shard. Each queue's tag is its own name unless
   * given here: `hashTags: { reports: heavy, exports: heavy }`.
   */
  hashTags: z.record(z.string(), z.string().regex(/^[^{}\s]+$/, 'write a tag without braces or spaces, e.g. heavy')).default({}),
}).superRefine((r, ctx) => {
  const given = (['url', 'sentinel', 'cluster'] as const).filter((k) => r[k] !== undefined);
  if (given.length > 1) {
    for (const k of given.slice(1)) ctx.addIssue({ code: 'custom', path: [k], message: `give one of url, sentinel and cluster, not ${given.join(' and ')}` });
  }
  if (r.waitTimeout <= 0) ctx.addIssue({ code: 'custom', path: ['waitTimeout'], message: 'must be above 0 (WAIT 0 would wait forever), e.g. 2s' });
}).transform((r) => ({
  url: r.url ?? (r.sentinel ? urlOfBlock({ sentinel: r.sentinel }) : r.cluster ? urlOfBlock({ cluster: r.cluster }) : undefined),
  waitForReplicas: r.waitForReplicas,
  waitTimeout: r.waitTimeout,
  hashTags: r.hashTags,
}));

export type RedisConfig = z.output<typeof redisSchema>;
