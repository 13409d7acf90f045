/**
 * The original system's paths, in its own shapes, so that its clients (the worker manager's and the autoscaler's
 * dashboards and scripts) keep working unchanged. Trireme's richer views of the same things are `GET /workers` and
 * `GET /autoscaling`. docs/api.md shows both faces; test/integration/api.test.ts pins these field by field.
 *
 * What each field means here, where the original left it open:
 * - `active_workers`: replicas running at least one job (state busy);
 * - `worker_type`: the pool; `container_name`: the container, else `host:pid`; `status`: the replica's state
 *   (starting, idle, busy, draining); `max_jobs`: the jobs after which the replica recycles (`maxTasksPerChild`),
 *   null when it never does;
 * - `enabled`: autoscaling on (not paused or pinned); `status`: `active`, `paused` or `pinned`;
 * - `scaleUpThreshold` / `scaleDownThreshold`: the threshold policy's own; for the target and hpa policies, the load
 *   per replica they size to (they scale proportionally, so up and down share it);
 * - `pending` / `running`: jobs waiting and running on the pool's queues; `shouldScaleUp/Down`: the last decision
 *   wants more / fewer replicas than are up.
 */
import { z } from 'zod';
import { route } from '../route.js';
import { poolOr404, type ApiContext } from '../context.js';
import { perReplicaTarget } from '../../core/config.js';
import type { PoolStatus } from '../../control/inspect.js';

function autoscalingOf(ctx: ApiContext, p: PoolStatus) {
  const cfg = ctx.project.config.pools[p.name];
  const s = cfg.scaling;
  // The threshold policy has its own thresholds; target and hpa size proportionally to one load per replica.
  const perReplica = s.policy === 'threshold' ? undefined : perReplicaTarget(cfg);
  const desired = p.decision?.desired ?? null;
  const pinned = p.pinned !== undefined;
  return {
    autoscaling: {
      enabled: p.autoscaling === 'on',
      minWorkers: p.bounds.min,
      maxWorkers: p.bounds.max,
      scaleUpThreshold: perReplica ?? s.scaleUpThreshold,
      scaleDownThreshold: perReplica ?? s.scaleDownThreshold,
      status: p.autoscaling === 'on' ? 'active' : pinned ? 'pinned' : 'paused',
    },
    analysis: {
      queue: { pending: p.depths.waiting, running: p.depths.running, total: p.depths.waiting + p.depths.running },
      metrics: {
        utilizationPercent: Math.round(p.utilisation * 1000) / 10,
        shouldScaleUp: desired !== null && desired > p.replicas.current,
        shouldScaleDown: desired !== null && desired < p.replicas.current,
      },
    },
  };
}

export const compatRoutes = (ctx: ApiContext) => [
  route({
    method: 'GET', url: '/workers/status', tag: 'compat', access: 'read',
    query: z.strictObject({ pool: z.string().optional() }),
    summary: "The original worker manager's shape: total_workers, active_workers, workers_by_type, worker_details by id (Trireme's own view: GET /workers)",
    handler: async ({ query }) => {
      if (query.pool) poolOr404(ctx, query.pool, 'query.pool');
      const w = await ctx.inspector.workers(query.pool);
      const details: Record<string, unknown> = {};
      for (const r of w.replicas) {
        details[r.id] = {
          worker_id: r.id,
          worker_type: r.pool,
          container_name: r.container ?? `${r.host}:${r.pid}`,
          status: r.state,
          created_at: new Date(r.startedAt).toISOString(),
          last_activity: new Date(r.lastActivity).toISOString(),
          job_count: r.jobsDone,
          max_jobs: ctx.project.config.pools[r.pool]?.maxTasksPerChild ?? null,
        };
      }
      return {
        total_workers: w.total,
        active_workers: w.byState.busy,
        workers_by_type: Object.fromEntries(Object.entries(w.byPool).map(([pool, b]) => [pool, b.total])),
        worker_details: details,
      };
    },
  }),
  route({
    method: 'GET', url: '/api/metrics/autoscaling', tag: 'compat', access: 'read',
    query: z.strictObject({ pool: z.string().optional() }),
    summary: "The original autoscaler's shape for one pool (?pool=), or for the default queue's pool plus a pools map of every pool (Trireme's own view: GET /autoscaling)",
    handler: async ({ query }) => {
      if (query.pool) poolOr404(ctx, query.pool, 'query.pool');
      const pools = await ctx.inspector.pools();
      if (query.pool) return autoscalingOf(ctx, pools.find((p) => p.name === query.pool)!);
      const main = ctx.project.router.poolFor(ctx.project.config.defaultQueue) ?? pools[0].name;
      return {
        ...autoscalingOf(ctx, pools.find((p) => p.name === main)!),
        pools: Object.fromEntries(pools.map((p) => [p.name, autoscalingOf(ctx, p)])),
      };
    },
  }),
];
