/**
 * The HTTP API (Fastify): routes from one table (jobs, pools, workers, scaling, system), token auth, body limits,
 * errors in one shape, `/openapi.json` built from the routes' own schemas, and the dashboard's static files at `/`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Project } from '../core/project.js';
import type { Controller } from '../control/controller.js';
import { Inspector } from '../control/inspect.js';
import { TriremeClient, NotReplicatedError, SubmitError } from '../jobs/client.js';
import { isRedisDown, whenReady } from '../redis/connection.js';
import { JobError } from '../jobs/operations.js';
import { silentLogger, type Logger } from '../system/log.js';
import { Auth } from './auth.js';
import { checkDepth, RequestGuard } from './guard.js';
import { ConnectionCap } from './connections.js';
import { ApiError, fromFastifyError } from './errors.js';
import { Metrics } from './metrics.js';
import { LiveFeed } from './live.js';
import { openApi, register, type Route } from './route.js';
import type { ApiContext } from './context.js';
import { jobRoutes } from './routes/jobs.js';
import { poolRoutes } from './routes/pools.js';
import { workerRoutes } from './routes/workers.js';
import { compatRoutes } from './routes/compat.js';
import { systemRoutes, VERSION } from './routes/system.js';
import { dashboardRoutes } from './dashboard.js';
import { fileRoutes } from './routes/files.js';
import { historyRoutes } from './routes/history.js';
import { scheduleRoutes } from './routes/schedules.js';
import { uploadError } from './uploads.js';
import { JobStorage } from '../storage/job-folders.js';
import { outboxState } from '../history/backlog.js';
import { TuneRunner } from './tune.js';

export interface ApiOptions {
  project: Project;
  redisUrl: string;
  controller?: Controller;
  logger?: Logger;
  /** Live feed tick, ms (1 s). */
  tickMs?: number;
  /** How often job event streams poll for log lines, ms (250). */
  followPollMs?: number;
  /** The Redis outage under way, if any (serve's RedisWatch), for /readyz. */
  redisOutage?: () => import('../redis/watch.js').RedisOutage | undefined;
}

export interface Api {
  app: FastifyInstance;
  metrics: Metrics;
  /** Listens; refuses a non-loopback host without a token. Resolves with the URL. */
  listen(host: string, port: number): Promise<string>;
  close(): Promise<void>;
}


/** Where a submit problem sits in the request: the task and payloads at the top of the body, the rest in options. */
const submitField = (f: string) => (f === 'task' || f === 'payload' || f.startsWith('payloads') || f.startsWith('jobs') ? `body.${f}` : f === 'id' ? 'params.id' : `body.options.${f}`);

export async function createApi(opts: ApiOptions): Promise<Api> {
  const cfg = opts.project.config;
  const logger = opts.logger ?? silentLogger;
  const auth = new Auth(cfg.auth);
  const client = new TriremeClient(opts.project, opts.redisUrl, { failFast: true });
  await whenReady(client.redis, 10_000);
  const inspector = new Inspector(opts.project, client.redis);
  const metrics = new Metrics({
    inspector, isLeader: () => opts.controller?.isLeader ?? false,
    history: cfg.history ? () => outboxState(client.redis, cfg.prefix) : undefined,
  });
  const live = new LiveFeed(inspector, opts.redisUrl, opts.tickMs);
  const storage = cfg.storage ? new JobStorage(cfg.storage.dir, opts.project.baseDir) : undefined;
  // pg loads only where history is configured.
  const history = cfg.history ? new (await import('../history/reader.js')).HistoryReader(cfg.history.postgres, opts.project) : undefined;
  const ctx: ApiContext = {
    project: opts.project, client, inspector, metrics, live, controller: opts.controller, logger,
    followPollMs: opts.followPollMs ?? 250, storage, history, redisOutage: opts.redisOutage,
    tune: new TuneRunner(opts.project.configPath, opts.redisUrl),
  };
  const uploadLimits = { maxFiles: cfg.storage?.maxFiles ?? 20, maxFileSize: cfg.storage?.maxFileSize ?? 100 * 1024 ** 2 };
  const requestTimeout = cfg.api.requestTimeout;
  const app = Fastify({
    bodyLimit: cfg.api.bodyLimit, logger: false, return503OnClosing: true, forceCloseConnections: true,
    // A client must send its whole request, headers and body, within requestTimeout; one that trickles is cut off
    // (408). Node reads these when the server is made (set afterwards, as Fastify does, a trickled body is never cut
    // and headers get Node's own 60 s), so they go in `http` too. Node checks them on an interval (30 s by default):
    // a quarter of the timeout, so a cut-off is not late by much. A connection with no traffic either way for
    // connectionTimeout (a client that stopped reading a download) is closed; event streams send a comment every 15 s.
    requestTimeout, connectionTimeout: Math.max(requestTimeout, 60_000), keepAliveTimeout: 5_000,
    http: { requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.max(250, Math.min(5_000, requestTimeout / 4)) },
    // Refusals the router makes before any handler runs, in the API's error shape like every other.
    frameworkErrors: (err, _req, reply) => {
      const e = err as { code?: string; statusCode?: number };
      const api = e.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new ApiError(414, 'path_too_long', 'a path segment is longer than 100 characters; no job id, pool or worker name is that long', 'params')
        : e.code === 'FST_ERR_BAD_URL'
          ? new ApiError(400, 'bad_url', 'the path is not a valid URL (a stray %: percent-encode it as %25)', 'params')
          : new ApiError(e.statusCode && e.statusCode < 500 ? e.statusCode : 400, 'bad_request', (err as Error).message);
      void (reply as unknown as import('fastify').FastifyReply).code(api.status).send(api.toJSON());
    },
  });
  const cap = new ConnectionCap(cfg.api.maxConnections);
  cap.attach(app.server);
  const guard = new RequestGuard(cfg.api);
  app.addHook('onRequest', async (req, reply) => {
    if (cap.beyond(req.raw.socket)) {
      void reply.header('connection', 'close');
      cap.check(req.url);
    }
    guard.check(req.method, req.headers);
  });
  app.addHook('onSend', async (_req, reply) => {
    // The dashboard must not be framed by another site (clickjacking) nor its responses sniffed into another type.
    void reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY')
      .header('content-security-policy', "frame-ancestors 'none'").header('referrer-policy', 'no-referrer');
  });
  // JSON with a nesting limit: a payload 5 000 arrays deep is refused with a 400 before anything recurses into it.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    try { checkDepth(text, 'the body', 'body'); } catch (e) { done(e as ApiError, undefined); return; }
    if (text.trim() === '') { done(Object.assign(new Error('empty JSON body'), { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY' }), undefined); return; }
    try { done(null, JSON.parse(text)); } catch (e) { done(Object.assign(e as Error, { statusCode: 400 }), undefined); }
  });

  app.setErrorHandler((err, req, reply) => {
    let api: ApiError | undefined;
    if (err instanceof ApiError) api = err;
    else if ((api = uploadError(err, uploadLimits))) { /* multipart and storage refusals */ }
    else if (err instanceof SubmitError) api = new ApiError(400, err.code, err.message, submitField(err.field));
    // Written but not known to be on the replicas redis.waitForReplicas asks for: retry (with the idempotency key).
    else if (err instanceof NotReplicatedError) api = new ApiError(503, err.code, err.message);
    else if (err instanceof JobError) api = new ApiError(err.code === 'not_found' ? 404 : err.code === 'conflict' ? 409 : 400, err.code, err.message, err.field ? `query.${err.field}` : 'params.id');
    else if (isRedisDown(err)) api = new ApiError(503, 'redis_unavailable', 'Redis cannot be reached right now; nothing was changed. Retry shortly (GET /readyz says when it is back)');
    else api = fromFastifyError(err as { statusCode?: number; code?: string; message: string }, cfg.api.bodyLimit);
    if (!api) {
      logger.error({ err: (err as Error).message, url: req.url, method: req.method }, 'API request failed');
      api = new ApiError(500, 'internal', `internal error: ${(err as Error).message}`);
    }
    void reply.code(api.status).send(api.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new ApiError(404, 'no_route', `no route ${req.method} ${req.url.split('?')[0]}; the API is described at /openapi.json`).toJSON());
  });

  // Multipart bodies (uploads to POST /jobs): the limits come from storage; fields stay small.
  await app.register((await import('@fastify/multipart')).default, {
    // File names as sent (busboy would strip "../" silently): a name that is not plain is refused, not rewritten.
    preservePath: true,
    limits: { fileSize: uploadLimits.maxFileSize, files: uploadLimits.maxFiles, fields: 10, fieldSize: cfg.api.bodyLimit, parts: uploadLimits.maxFiles + 10, headerPairs: 100 },
  });
  const routes: Route[] = [...jobRoutes(ctx), ...fileRoutes(ctx), ...historyRoutes(ctx), ...poolRoutes(ctx), ...scheduleRoutes(ctx), ...workerRoutes(ctx), ...compatRoutes(ctx), ...systemRoutes(ctx)];
  const doc = openApi(routes, { title: 'Trireme', version: VERSION });
  routes.push({
    method: 'GET', url: '/openapi.json', tag: 'system', access: 'public', summary: 'This document',
    handler: async () => doc,
  });
  register(app, routes, auth);
  await dashboardRoutes(app);
  live.start();

  return {
    app, metrics,
    async listen(host, port) {
      auth.checkBind(host);
      guard.listening(host);
      await app.listen({ host, port });
      const addr = app.server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    async close() {
      live.close();
      await app.close();
      await client.close();
      await history?.close();
    },
  };
}
