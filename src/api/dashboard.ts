/** The dashboard's static files (src/dashboard/), served at `/` with no request leaving the machine. */
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const send = async (file: string, reply: import('fastify').FastifyReply) => {
    try {
      const body = await readFile(join(DIR, file));
      return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache').send(body);
    } catch {
      return reply.code(404).send({ error: { code: 'no_route', message: `no dashboard file ${file}` } });
    }
  };
  app.get('/', (_req, reply) => send('index.html', reply));
  app.get('/ui/:file', (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!/^[\w.-]+$/.test(file) || file.startsWith('.')) return reply.code(404).send({ error: { code: 'no_route', message: 'no such file' } });
    return send(file, reply);
  });
}
