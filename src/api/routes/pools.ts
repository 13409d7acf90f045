/** Pools and scaling: status, manual overrides, the autoscaling view, and scale events (a list and a live stream). */
import { z } from 'zod';
import { route } from '../route.js';
import { poolOr404, type ApiContext } from '../context.js';
import { pinAboveMax } from '../../core/replica.js';
import { ApiError } from '../errors.js';
import { EventStream } from '../sse.js';

const poolParams = z.strictObject({ name: z.string().min(1) });

export const poolRoutes = (ctx: ApiContext) => {
  /** After an override, act on it now rather than at the next interval. */
  const nudge = (pool: string) => { void ctx.controller?.tick([pool]); };
  const one = async (name: string) => (await ctx.inspector.pools()).find((p) => p.name === name)!;
  return [
    route({
      method: 'GET', url: '/pools', tag: 'pools', access: 'read',
      summary: 'Every pool: config, replicas desired and by state, queue depths, utilisation, cost, last decision and its reason',
      handler: async () => ({ pools: await ctx.inspector.pools() }),
    }),
    route({
      method: 'GET', url: '/pools/:name', tag: 'pools', access: 'read', params: poolParams,
      summary: 'One pool',
      handler: async ({ params }) => one(poolOr404(ctx, params.name, 'params.name')),
    }),
    route({
      method: 'PUT', url: '/pools/:name/replicas', tag: 'pools', access: 'write', params: poolParams,
      body: z.strictObject({
        replicas: z.number({ error: 'replicas must be a number, e.g. {"replicas": 3}' })
          .int('replicas must be a whole number, e.g. 3').min(0, 'replicas must be 0 or more'),
      }),
      summary: 'Pin a pool at a replica count; this pauses its autoscaling until resumed',
      handler: async ({ params, body }) => {
        const name = poolOr404(ctx, params.name, 'params.name');
        const max = ctx.project.config.pools[name].scaling.max;
        const above = pinAboveMax(name, body.replicas, max);
        if (above) throw new ApiError(400, 'above_max', above, 'body.replicas');
        await ctx.inspector.store.setReplicas(name, body.replicas);
        nudge(name);
        return one(name);
      },
    }),
    ...(['pause', 'resume'] as const).map((verb) => route({
      method: 'POST', url: `/pools/:name/${verb}`, tag: 'pools', access: 'write', params: poolParams,
      summary: verb === 'pause' ? 'Pause autoscaling: the pool keeps its current replicas' : 'Give the pool back to the autoscaler (clears a pinned count)',
      handler: async ({ params }) => {
        const name = poolOr404(ctx, params.name, 'params.name');
        await ctx.inspector.store[verb](name);
        nudge(name);
        return one(name);
      },
    })),
    route({
      method: 'GET', url: '/pools/:name/tune', tag: 'scaling', access: 'read', params: poolParams,
      query: z.strictObject({
        since: z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, 'since is a duration such as 1h or 1d').default('1d'),
        goal: z.string().min(1).max(200).default('p95<=30s'),
        grid: z.enum(['quick', 'full']).default('quick'),
      }),
      summary: "Replay what the pool ran (history, else the jobs Redis holds) against its settings, as `trireme tune` does: the curves, the recommendation for the goal with its YAML, and the report page the dashboard draws. One replay at a time (409 while another runs); answers are kept 5 minutes",
      handler: async ({ params, query }) => {
        const pool = poolOr404(ctx, params.name, 'params.name');
        const { report, ranAt, cached } = await ctx.tune.run({ pool, since: query.since, goal: query.goal, grid: query.grid });
        return { pool, since: query.since, goal: query.goal, ranAt, cached, report };
      },
    }),
    // The original autoscaler's path, in its own shape, is in compat.ts.
    route({
      method: 'GET', url: '/autoscaling', tag: 'scaling', access: 'read',
      summary: 'Per pool: queue pending/running/total, utilisation, shouldScaleUp/Down, bounds and thresholds, cooldown, status',
      handler: async () => ({ pools: await ctx.inspector.autoscaling(), leader: await ctx.inspector.leader() }),
    }),
    route({
      method: 'GET', url: '/history', tag: 'scaling', access: 'read',
      query: z.strictObject({ minutes: z.coerce.number().min(1).max(15).default(15) }),
      summary: 'The last minutes (up to 15) of one-second ticks, as columns per pool: queued (waiting + running), replicas, desired, jobs/s in and out, p95 wait, oldest wait',
      handler: async ({ query }) => ctx.live.history(query.minutes * 60_000),
    }),
    route({
      method: 'GET', url: '/events/scaling', tag: 'scaling', access: 'read',
      query: z.strictObject({ limit: z.coerce.number().int().min(1).max(1_000).default(100), pool: z.string().optional() }),
      summary: 'Recent scale events, newest first',
      handler: async ({ query }) => {
        if (query.pool) poolOr404(ctx, query.pool, 'query.pool');
        const events = await ctx.inspector.events(query.pool ? ctx.project.config.controller.eventsKept : query.limit);
        return { events: query.pool ? events.filter((e) => e.pool === query.pool).slice(0, query.limit) : events };
      },
    }),
    route({
      method: 'GET', url: '/events', tag: 'scaling', access: 'read', produces: 'text/event-stream',
      summary: 'Server-sent events: `scale` and `override` at once, `replica` changes and a `tick` of every pool each second',
      handler: async ({ req, reply }) => {
        const stream = new EventStream(req, reply);
        const off = ctx.live.subscribe((f) => stream.send(f.event, f.data));
        stream.signal.addEventListener('abort', off, { once: true });
      },
    }),
  ];
};
