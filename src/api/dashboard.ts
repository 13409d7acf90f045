/**
 * The dashboard's static files (src/dashboard/) at `/` and `/ui/*`, and uPlot from node_modules at `/ui/vendor/*`:
 * every asset is served by `serve`, so the page makes no request beyond it.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError } from './errors.js';

const DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const VENDOR: Record<string, string> = {
  'uplot.js': createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'),
  'uplot.css': createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'),
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const missing = (file: string, reply: FastifyReply) => reply.code(404).send(new ApiError(404, 'no_route', `no dashboard file ${file}`).toJSON());
  const send = async (file: string, reply: FastifyReply, path = join(DIR, file)) => {
    try {
      const body = await readFile(path);
      return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(body);
    } catch {
      return missing(file, reply);
    }
  };
  app.get('/', (_req, reply) => send('index.html', reply));
  app.get('/favicon.ico', (_req, reply) => send('favicon.svg', reply));
  app.get('/ui/vendor/:file', (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!VENDOR[file]) return missing(file, reply);
    return send(file, reply, VENDOR[file]);
  });
  app.get('/ui/:file', (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) return missing(file, reply);
    return send(file, reply);
  });
}
