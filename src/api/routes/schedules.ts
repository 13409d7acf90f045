/** Job schedules: what the config asks for, with their next and last runs as Redis has them. */
import { route } from '../route.js';
import type { ApiContext } from '../context.js';

export const scheduleRoutes = (ctx: ApiContext) => [
  route({
    method: 'GET', url: '/schedules', tag: 'schedules', access: 'read',
    summary: 'Every job schedule of the config: task, queue and pool, when it runs (every or cron with its time zone), whether its BullMQ scheduler is in Redis (active or pending), the next run, the runs so far and the last run (job id, started, finished, outcome)',
    handler: async () => ({ schedules: await ctx.inspector.schedules() }),
  }),
];
