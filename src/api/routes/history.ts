/** Job history from PostgreSQL: per task per day, throughput, wait and duration percentiles, and cost. */
import { z } from 'zod';
import { route } from '../route.js';
import { historyOr404, historyRead, type ApiContext } from '../context.js';
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
      const history = historyOr404(ctx);
      const to = q.to ?? Date.now();
      const from = q.from ?? to - 7 * DAY;
      if (from >= to) throw new ApiError(400, 'invalid_query', 'from must be before to', 'query.from');
      if (to - from > 366 * DAY) throw new ApiError(400, 'invalid_query', 'ask for at most 366 days at once', 'query.from');
      return { from, to, tasks: await historyRead(history.tasks(from, to)) };
    },
  }),
];
