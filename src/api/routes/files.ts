/** A job's files on storage.dir: the list (inputs and outputs) and each file, with its content type and byte ranges. */
import { z } from 'zod';
import { stat } from 'node:fs/promises';
import { route } from '../route.js';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { contentTypeOf, type JobStorage } from '../../storage/job-folders.js';
import { jobNotFound } from '../../jobs/operations.js';

const idParams = z.strictObject({ id: z.string().min(1) });
const fileParams = z.strictObject({ id: z.string().min(1), kind: z.enum(['input', 'output']), name: z.string().min(1) });

function storageOf(ctx: ApiContext): JobStorage {
  if (!ctx.storage) throw new ApiError(404, 'storage_off', 'job files are off: set storage.dir in the config (docs/storage.md)');
  return ctx.storage;
}

export const fileRoutes = (ctx: ApiContext) => [
  route({
    method: 'GET', url: '/jobs/:id/files', tag: 'jobs', access: 'read', params: idParams,
    summary: "A job's files: what was uploaded with it (input) and what its task wrote (output), each with its size and URL",
    handler: async ({ params }) => {
      const storage = storageOf(ctx);
      const dir = storage.dirOf(params.id);
      const known = await stat(dir).then(() => true, () => false) || await ctx.client.getJob(params.id) || await ctx.history?.job(params.id);
      if (!known) throw jobNotFound(params.id);
      const files = await storage.list(params.id);
      const withUrl = (kind: 'input' | 'output') => files[kind].map((f) => ({ ...f, url: `/jobs/${encodeURIComponent(params.id)}/files/${kind}/${encodeURIComponent(f.name)}` }));
      return { id: params.id, input: withUrl('input'), output: withUrl('output') };
    },
  }),
  route({
    method: 'GET', url: '/jobs/:id/files/:kind/:name', tag: 'jobs', access: 'read', params: fileParams, produces: 'application/octet-stream',
    summary: 'One file of a job, with its content type; honours a single byte Range (206)',
    handler: async ({ params, req, reply }) => {
      const file = await storageOf(ctx).open(params.id, params.kind, params.name, req.headers.range);
      const type = contentTypeOf(params.name);
      void reply.header('accept-ranges', 'bytes').header('content-type', type)
        .header('last-modified', new Date(file.modified).toUTCString())
        .header('content-disposition', `${/^(text|image)\/|json/.test(type) ? 'inline' : 'attachment'}; filename="${params.name.replace(/"/g, '')}"`);
      const { range } = file;
      if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${file.size}`).send();
      if (!range) return reply.header('content-length', file.size).send(file.stream);
      return reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
        .header('content-length', range.end - range.start + 1).send(file.stream);
    },
  }),
];
