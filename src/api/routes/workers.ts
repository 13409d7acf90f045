/**
 * Workers (replicas): status, and manual start / ensure / stop. Starting goes through this host's driver; when the
 * pool's autoscaling is paused the pinned count is raised instead, so the controller keeps what was asked for. A
 * manually started replica of an autoscaled pool counts as a scale-up: after the down-cooldown and idle shutdown
 * the autoscaler may drain it again if there is no work.
 */
import { z } from 'zod';
import { route } from '../route.js';
import { poolOr404, type ApiContext } from '../context.js';
import { ApiError } from '../errors.js';

const poolParams = z.strictObject({ pool: z.string().min(1) });

export const workerRoutes = (ctx: ApiContext) => {
  const start = async (pool: string, onlyIfNone: boolean) => {
    const status = (await ctx.inspector.pools()).find((p) => p.name === pool)!;
    const current = status.replicas.current;
    if (onlyIfNone && current > 0) return { pool, started: 0, current, message: 'a replica is already up' };
    const max = ctx.project.config.pools[pool].scaling.max;
    if (current >= max) throw new ApiError(409, 'at_max', `pool ${pool} already has ${current} replica(s), its max; raise pools.${pool}.scaling.max`, 'params.pool');
    if (status.autoscaling === 'paused') {
      const target = Math.max(status.pinned ?? current, current) + 1;
      await ctx.inspector.store.setReplicas(pool, target);
      void ctx.controller?.tick([pool]);
      return { pool, started: 1, current, pinned: target, message: `autoscaling is paused: pinned at ${target}` };
    }
    if (!ctx.controller) throw new ApiError(409, 'no_driver', 'this API runs without a controller; start workers with trireme worker or trireme serve', 'params.pool');
    const started = await ctx.controller.startManually(pool, 1);
    if (started === 0) {
      const h = ctx.controller.driverOf(pool).health(pool);
      throw new ApiError(409, 'start_refused', `the driver started no replica: ${h.status}${h.message ? ` (${h.message})` : ''}`, 'params.pool');
    }
    await ctx.inspector.store.addEvent({ at: Date.now(), pool, from: current, to: current + started, reason: `${pool}: ${current} -> ${current + started}: started through the API`, manual: true });
    return { pool, started, current };
  };
  return [
    route({
      method: 'GET', url: '/workers', tag: 'workers', access: 'read',
      query: z.strictObject({ pool: z.string().optional() }),
      summary: 'Every live replica (id, pool, host, pid or container, state, started, last activity, jobs done, running, concurrency), totals by state and pool, and the standby processes kept ready with their memory',
      handler: async ({ query }) => {
        if (query.pool) poolOr404(ctx, query.pool, 'query.pool');
        const [w, standbys] = await Promise.all([ctx.inspector.workers(query.pool), ctx.inspector.standbys()]);
        return { ...w, standbys: query.pool ? standbys.filter((s) => s.pool === query.pool || s.pool === '') : standbys };
      },
    }),
    route({
      method: 'POST', url: '/workers/start/:pool', tag: 'workers', access: 'write', params: poolParams, status: 202,
      summary: 'Start one more replica of a pool',
      handler: async ({ params }) => start(poolOr404(ctx, params.pool, 'params.pool'), false),
    }),
    route({
      method: 'POST', url: '/workers/ensure/:pool', tag: 'workers', access: 'write', params: poolParams, status: 202,
      summary: 'Make sure a pool has at least one replica up',
      handler: async ({ params }) => start(poolOr404(ctx, params.pool, 'params.pool'), true),
    }),
    route({
      method: 'POST', url: '/workers/stop/:id', tag: 'workers', access: 'write', params: z.strictObject({ id: z.string().min(1) }), status: 202,
      summary: 'Drain a replica: it takes no new job, finishes its running ones within the pool\'s drain grace, and exits',
      handler: async ({ params }) => {
        // A driver that can stop a chosen replica stops it (even one not registered yet); others are asked through Redis.
        const registered = await ctx.inspector.registry.list();
        const pool = ctx.controller ? await ctx.controller.stopReplica(params.id, registered) : registered.find((x) => x.id === params.id)?.pool;
        if (!pool) throw new ApiError(404, 'unknown_worker', `no live replica "${params.id}"; see GET /workers`, 'params.id');
        if (!ctx.controller) await ctx.inspector.registry.requestDrain(params.id);
        return { id: params.id, pool, state: 'draining' };
      },
    }),
  ];
};
