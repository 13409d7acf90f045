/** Job history from PostgreSQL: per task per day, throughput, wait and duration percentiles, and cost. */
import { z } from 'zod';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';

const DAY = 86_400_000;
const when = z.union([z.coerce.number().int().min(0), z.string().datetime({ offset: true }).or(z.string().date())])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)));

const query = z.strictObject({
  from: when.optional().describe('ms since the epoch or an ISO date; default: 7 days before `to`'),
  to: when.optional().describe('ms since the epoch or an ISO date (exclusive); default: now'),
});

export const historyRoutes = (ctx: ApiContext) => [
  route({
    method: 'GET', url: '/history/tasks', tag: 'jobs', access: 'read', query,
    summary: 'Per task per day (UTC) of jobs finished in [from, to): jobs, completed, failed, queue wait and duration p50/p95 (ms), cost',
    handler: async ({ query: q }) => {
      if (!ctx.history) throw new ApiError(404, 'history_off', 'job history is off: set history.postgres in the config (docs/storage.md)');
      const to = q.to ?? Date.now();
      const from = q.from ?? to - 7 * DAY;
      if (from >= to) throw new ApiError(400, 'invalid_query', 'from must be before to', 'query.from');
      if (to - from > 366 * DAY) throw new ApiError(400, 'invalid_query', 'ask for at most 366 days at once', 'query.from');
      try {
        return { from, to, tasks: await ctx.history.tasks(from, to) };
      } catch (e) {
        throw new ApiError(503, 'history_unavailable', `PostgreSQL cannot be reached right now (${(e as Error).message}); retry shortly`);
      }
    },
  }),
];
