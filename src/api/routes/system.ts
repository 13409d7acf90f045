/** Health, readiness, Prometheus metrics. */
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { within } from '../../system/deadline.js';
import { outboxState } from '../../history/backlog.js';
import { historyCheck } from '../../control/doctor.js';
import { ownPrefix } from '../../redis/keyspace.js';
import { endpointOf } from '../../redis/connection.js';

const started = Date.now();
export const VERSION = '0.1.0';

export const systemRoutes = (ctx: ApiContext) => [
  route({
    method: 'GET', url: '/healthz', tag: 'system', access: 'public',
    summary: 'The process is up, and the Redis it uses: its mode, and the primary (primaries on a Cluster) its connection is on now',
    // From what the connection knows, no round trip: after a Sentinel failover this names the new primary.
    handler: async () => ({ status: 'ok', uptimeSeconds: Math.round((Date.now() - started) / 1000), redis: endpointOf(ctx.client.redis, ctx.client.redisUrl) }),
  }),
  route({
    method: 'GET', url: '/readyz', tag: 'system', access: 'public',
    summary: 'Ready: Redis answers, and this process\'s controller loop ran recently (leader or standby); 503 otherwise. A stuck job history says "degraded" (200): jobs and the API go on',
    handler: async ({ reply }) => {
      const ping = await within(ctx.client.redis.ping().then(() => true, () => false), 1_000, false);
      const outage = ctx.redisOutage?.();
      const checks: Record<string, { ok: boolean; detail: string }> = {
        redis: {
          ok: ping,
          detail: ping ? 'PING answered' : outage
            ? `no answer since ${new Date(outage.since).toISOString()} (${Math.round((Date.now() - outage.since) / 1000)} s): ${outage.error}; scaling is on hold and submits are refused until it is back`
            : 'no answer to PING within 1 s',
        },
      };
      const cfg = ctx.project.config;
      const history = cfg.history && ping ? await within(outboxState(ctx.client.redis, cfg.prefix).then((s) => s, () => undefined), 1_000, undefined) : undefined;
      const historyOk = history ? historyCheck(history, Date.now(), cfg.history!.stuckAfter, ownPrefix(ctx.client.redis, cfg.prefix)) : undefined;
      if (ctx.controller) {
        const age = Date.now() - ctx.controller.lastTickAt;
        const limit = Math.max(3 * ctx.project.config.controller.interval, 5_000);
        checks.controller = ctx.controller.isLeader
          ? { ok: age <= limit, detail: `leader; last pass ${Math.round(age / 1000)} s ago (stale after ${limit / 1000} s)` }
          : { ok: true, detail: 'standby: another controller holds the lease' };
      }
      const ok = Object.values(checks).every((c) => c.ok);
      // History only reports: a stuck history stops neither jobs nor the API, so it does not take this process out of service.
      if (historyOk) checks.history = { ok: historyOk.status !== 'fail', detail: historyOk.detail };
      reply.code(ok ? 200 : 503);
      return { status: !ok ? 'not ready' : checks.history?.ok === false ? 'degraded' : 'ready', checks };
    },
  }),
  route({
    method: 'GET', url: '/info', tag: 'system', access: 'public',
    summary: 'What a client needs to know first: version, pools, whether writes and reads need a token',
    handler: async () => ({
      version: VERSION,
      pools: Object.keys(ctx.project.config.pools),
      auth: { writes: ctx.project.config.auth.tokens.length ? 'token' : 'open', reads: ctx.project.config.auth.tokens.length && ctx.project.config.auth.protectReads ? 'token' : 'open' },
    }),
  }),
  route({
    method: 'GET', url: '/metrics', tag: 'system', access: 'read', produces: 'text/plain',
    summary: 'Prometheus metrics (text exposition format)',
    handler: async ({ reply }) => {
      const text = await ctx.metrics.render();
      reply.header('content-type', ctx.metrics.contentType);
      return text;
    },
  }),
];
