/** Jobs: submit (one or a group), look up, list, cancel, retry, and follow one live. */
import { z } from 'zod';
import { route } from '../route.js';
import { historyOr404, historyRead, type ApiContext } from '../context.js';
import { EventStream } from '../sse.js';
import { ApiError } from '../errors.js';
import { cancelJob, followJob, JOB_STATES, jobNotFound, listJobs, retryJob } from '../../jobs/operations.js';
import { discardUpload, placeUpload, readUpload, uploadOf } from '../uploads.js';

const submitOptions = z.strictObject({
  queue: z.string().optional(),
  priority: z.number().int().min(0).optional(),
  delay: z.union([z.number().min(0), z.string()]).optional().describe('milliseconds or a duration such as "30s"'),
  idempotencyKey: z.string().min(1).max(1000).optional(),
  retries: z.number().int().min(0).optional(),
});

const submitBody = z.strictObject({
  task: z.string().min(1, 'name the task to run, e.g. "shap.explain"').optional(),
  jobs: z.array(z.strictObject({ task: z.string().min(1, 'name the task to run'), payload: z.unknown().optional(), options: submitOptions.optional() }))
    .min(1, 'send at least one job').max(10_000).optional()
    .describe('many independent jobs, all or nothing: each is validated, and one refusal (named by its index) enqueues none'),
  payload: z.unknown().optional(),
  payloads: z.array(z.unknown()).min(1, 'a group needs at least one payload').max(10_000).optional()
    .describe('fan-out: one child run per payload under a parent job that completes when all have'),
  runs: z.number().int().min(1).max(10_000).optional().describe('fan-out: this many runs of `payload`'),
  options: submitOptions.optional(),
}).refine((b) => !(b.payloads && (b.payload !== undefined || b.runs)), { message: 'send either payloads (a group) or payload (with runs for N copies), not both', path: ['payloads'] })
  .refine((b) => !(b.jobs && (b.task !== undefined || b.payload !== undefined || b.payloads || b.runs || b.options)), { message: 'send either jobs (each with its task) or one task, not both', path: ['jobs'] })
  .refine((b) => b.jobs || b.task !== undefined, { message: 'name the task to run, e.g. "shap.explain"', path: ['task'] });

/**
 * A group stores one copy of its payload per run: a small request can ask Redis for gigabytes (100 KB x 1 000 runs
 * grew it by 117 MB). Refused past api.groupPayloadLimit, before anything is built or stored.
 */
function checkGroupSize(payload: unknown, runs: number | undefined, limit: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  const stored = runs ? bytes * runs : bytes;
  if (stored <= limit) return;
  const what = runs ? `${runs} runs of ${bytes} bytes` : `payloads of ${bytes} bytes in all`;
  throw new ApiError(413, 'group_too_large', `the group would store ${stored} bytes of payload in Redis (${what}), over api.groupPayloadLimit (${limit} bytes): `
    + 'each run keeps its own copy. Send fewer runs or a smaller payload (a reference to data on storage.dir rather than the data), or raise api.groupPayloadLimit in the config', runs ? 'body.runs' : 'body.payloads');
}

/** Job event streams one API holds open at once. */
const MAX_JOB_STREAMS = 200;
const openStreams = new WeakMap<ApiContext, number>();

const idParams = z.strictObject({ id: z.string().min(1) });
const csv = (v: unknown) => (typeof v === 'string' ? v.split(',').filter(Boolean) : v);

const listQuery = z.strictObject({
  state: z.preprocess(csv, z.array(z.enum(JOB_STATES))).optional().describe(`comma-separated: ${JOB_STATES.join(', ')}`),
  queue: z.string().optional(),
  pool: z.string().optional(),
  task: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().optional().describe('the `cursor` of the previous page'),
  source: z.enum(['redis', 'history']).default('redis').describe('history: finished jobs from PostgreSQL (history.postgres), including those Redis no longer holds'),
});

/** A submit's answer, with `warning` when a pool it went to is paused (the job was accepted all the same). */
async function warned<T extends object>(ctx: ApiContext, answer: T, pools: string[]): Promise<T & { warning?: string }> {
  const warning = await ctx.inspector.submitWarning(pools).catch(() => undefined);
  return warning ? { ...answer, warning } : answer;
}

export const jobRoutes = (ctx: ApiContext) => [
  route({
    method: 'POST', url: '/jobs', tag: 'jobs', access: 'write', status: 201, body: submitBody,
    summary: 'Submit a job, a group of runs (payloads, or runs x payload) under one parent job, or many jobs at once (jobs); as multipart/form-data (fields task, payload, options and files), one job with its input files',
    multipart: {
      read: (req) => readUpload(req, ctx.storage, { maxFiles: ctx.project.config.storage?.maxFiles ?? 0, maxFileSize: ctx.project.config.storage?.maxFileSize ?? 0 }).then((u) => u.body),
      done: discardUpload,
    },
    handler: async ({ body, req }) => {
      const upload = uploadOf(req);
      if (upload && (body.jobs || body.payloads || body.runs)) throw new ApiError(400, 'invalid_upload', 'files go with one job: send task, payload and options, not jobs, payloads or runs', 'body');
      if (body.jobs) {
        const jobs = await ctx.client.submitMany(undefined, body.jobs);
        return warned(ctx, { jobs }, jobs.map((j) => j.pool));
      }
      const task = body.task!;
      if (body.runs || body.payloads) checkGroupSize(body.payloads ?? body.payload ?? {}, body.runs, ctx.project.config.api.groupPayloadLimit);
      const payloads = body.payloads ?? (body.runs ? Array.from({ length: body.runs }, () => body.payload ?? {}) : undefined);
      if (payloads) { const group = await ctx.client.submitGroup(task, payloads, body.options); return warned(ctx, group, [group.pool]); }
      const place = upload && ctx.storage ? (id: string) => placeUpload(ctx.storage!, upload, id) : undefined;
      const submitted = await ctx.client.submit(task, body.payload ?? {}, { ...body.options, beforeEnqueue: place });
      return warned(ctx, upload ? { ...submitted, files: upload.files } : submitted, [submitted.pool]);
    },
  }),
  route({
    method: 'GET', url: '/jobs', tag: 'jobs', access: 'read', query: listQuery,
    summary: 'List jobs, newest first, filtered by state, queue, pool and task; page with `cursor`',
    handler: async ({ query }) => {
      if (query.source === 'redis') return listJobs(ctx.client, query);
      const history = historyOr404(ctx, 'query.source');
      const before = query.cursor ? Number(query.cursor.replace(/^h/, '')) : undefined;
      if (before !== undefined && !Number.isFinite(before)) throw new ApiError(400, 'invalid_query', 'cursor: pass the cursor of the previous page', 'query.cursor');
      return historyRead(history.list({ task: query.task, before, limit: query.limit }));
    },
  }),
  route({
    method: 'GET', url: '/jobs/:id', tag: 'jobs', access: 'read', params: idParams,
    summary: 'One job: state, attempts, progress, result or error, and timings',
    handler: async ({ params }) => {
      // Redis first; a job it no longer holds, from history when that is on.
      const job = await ctx.client.getJob(params.id) ?? await ctx.history?.job(params.id);
      if (!job) throw jobNotFound(params.id);
      return job;
    },
  }),
  route({
    method: 'DELETE', url: '/jobs/:id', tag: 'jobs', access: 'write', params: idParams,
    summary: 'Cancel a job: a waiting one is removed, a running one is aborted and fails as "cancelled" (no retry)',
    handler: async ({ params }) => cancelJob(ctx.client, params.id),
  }),
  route({
    method: 'POST', url: '/jobs/:id/retry', tag: 'jobs', access: 'write', params: idParams,
    summary: 'Run a failed or completed job again',
    handler: async ({ params }) => retryJob(ctx.client, params.id),
  }),
  route({
    method: 'GET', url: '/jobs/:id/events', tag: 'jobs', access: 'read', params: idParams, produces: 'text/event-stream',
    summary: 'Server-sent events for one job: `log` lines in order, `progress`, `state`; `end` when it finishes, then the stream closes',
    handler: async ({ params, req, reply }) => {
      if (!await ctx.client.getJob(params.id)) throw jobNotFound(params.id);
      // Each stream polls Redis: a cap keeps a crowd of them from slowing everything else.
      if ((openStreams.get(ctx) ?? 0) >= MAX_JOB_STREAMS) {
        throw new ApiError(503, 'too_many_streams', `${MAX_JOB_STREAMS} job event streams are open; close one, or poll GET /jobs/:id instead`);
      }
      openStreams.set(ctx, (openStreams.get(ctx) ?? 0) + 1);
      const stream = new EventStream(req, reply);
      void (async () => {
        try {
          for await (const e of followJob(ctx.client, params.id, { pollMs: ctx.followPollMs, signal: stream.signal })) {
            const { type, ...data } = e;
            stream.send(type, data);
          }
        } catch (err) {
          stream.send('stream-error', { message: (err as Error).message });
        } finally {
          openStreams.set(ctx, (openStreams.get(ctx) ?? 1) - 1);
          stream.close();
        }
      })();
    },
  }),
];
