/**
 * One table of routes: each declares its zod schemas for params, query and body, and who may call it. The same
 * schemas validate requests (a 400 that names the field) and produce the OpenAPI document, so the two never drift.
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import type { Access, Auth } from './auth.js';

export interface Input<P, Q, B> { params: P; query: Q; body: B; req: FastifyRequest; reply: FastifyReply }

export interface Route<P = any, Q = any, B = any> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  access: Access;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Status of a success (200 unless set). */
  status?: number;
  /** `text/event-stream` or `text/plain` routes write their own reply. */
  produces?: string;
  /**
   * Also takes multipart/form-data: `read` turns the request into the body the schema checks (storing files aside),
   * `done` runs after the request however it ended (to remove what was stored and not used).
   */
  multipart?: { read(req: FastifyRequest): Promise<unknown>; done(req: FastifyRequest): Promise<void> };
  handler(input: Input<P, Q, B>): Promise<unknown>;
}

/** Declares a route with its types inferred from its schemas. */
export function route<P = undefined, Q = undefined, B = undefined>(r: Route<P, Q, B>): Route<P, Q, B> { return r; }

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: 'params' | 'query' | 'body'): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(where === 'body' ? value ?? {} : value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  const field = [where, ...path.map(String)].join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : undefined;
    message = `unknown field "${issue.keys[0]}"${known ? `; known fields: ${known}` : ''}`;
  }
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : '';
  throw new ApiError(400, `invalid_${where === 'params' ? 'path' : where}`, `${field}: ${message}${more}`, field);
}

export function register(app: FastifyInstance, routes: Route[], auth: Auth): void {
  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      handler: async (req, reply) => {
        auth.check(r.access, req.headers.authorization);
        const multipart = r.multipart && req.isMultipart?.() ? r.multipart : undefined;
        try {
          const params = parse(r.params, req.params, 'params');
          const query = parse(r.query, req.query, 'query');
          const body = parse(r.body, multipart ? await multipart.read(req) : req.body, 'body');
          const out = await r.handler({ params, query, body, req, reply });
          if (reply.sent) return reply;
          // A handler that set its own status (readiness: 503) keeps it.
          if (r.status && reply.statusCode === 200) reply.code(r.status);
          return out;
        } finally {
          await multipart?.done(req);
        }
      },
    });
  }
}

const schemaOf = (s: z.ZodType) => {
  const js = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete js.$schema;
  return js;
};

/** The OpenAPI 3.1 document for a route table. */
export function openApi(routes: Route[], info: { title: string; version: string }): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      if (!schema) continue;
      const js = schemaOf(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: s });
      }
    }
    const security = r.access === 'public' ? [] : [{ bearer: [] }];
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary, tags: [r.tag], parameters, security,
      'x-trireme-access': r.access,
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } } } : {}),
      responses: {
        [String(r.status ?? 200)]: { description: 'success', content: { [r.produces ?? 'application/json']: {} } },
        '4XX': { description: 'refused: `{ error: { code, message, field } }`', content: { 'application/json': { schema: ERROR_SCHEMA } } },
      },
    };
  }
  return {
    openapi: '3.1.0', info, paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from auth.tokens (or TRIREME_API_TOKEN); needed for writes when auth is on, and for reads with auth.protectReads' } } },
  };
}

const ERROR_SCHEMA = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } }, required: ['code', 'message'] } },
};
