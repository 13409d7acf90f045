/**
 * What a hostile page or a careless client sent, over real HTTP against an embedded API on a private Redis: each
 * of these once got through (issue 14). Cross-site writes, DNS rebinding, slow bodies, deep JSON, pool names that
 * are object keys, idempotency keys that collided, ids naming BullMQ's own keys, absurd options, missing headers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { startRedis, fixtureProject, waitFor, type TestRedis } from '../helpers.js';
import { createApi, type Api } from '../../src/api/server.js';
import { buildProject } from '../../src/project/project.js';
import { ConfigError } from '../../src/core/config.js';
import { idempotentJobId } from '../../src/jobs/ids.js';

let redis: TestRedis;
let api: Api;
let base: string;
let port: number;

/** A request with any headers (fetch will not send Host or a forged Origin). */
function send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };

describe('hostile and careless requests', () => {
  before(async () => {
    redis = await startRedis();
    const project = await fixtureProject({}, { redis: { url: redis.url }, api: { requestTimeout: '1s', allowedHosts: ['jobs.internal'], allowedOrigins: ['http://app.internal:3000'] } });
    api = await createApi({ project, redisUrl: redis.url });
    base = await api.listen('127.0.0.1', 0);
    port = Number(new URL(base).port);
  });
  after(async () => {
    await api.close();
    await redis.stop();
  });

  test('a write from another origin is refused (no-cors fetch, a text/plain form); the API\'s own origin and listed ones pass', async () => {
    const evil = await send('POST', '/pools/main/pause', { origin: 'http://evil.example', 'content-type': 'text/plain' }, 'x');
    assert.equal(evil.status, 403);
    assert.deepEqual([evil.body.error.code, evil.body.error.field], ['cross_origin', 'headers.origin']);
    assert.equal((await send('POST', '/pools/main/pause', { origin: 'null' })).status, 403, 'a sandboxed page sends Origin: null');
    assert.equal((await send('POST', '/pools/main/pause', { 'sec-fetch-site': 'cross-site' })).status, 403);
    const pool = await send('GET', '/pools/main');
    assert.equal(pool.body.autoscaling, 'on', 'nothing was paused by the refused requests');
    assert.equal((await send('POST', '/pools/main/pause', { origin: base })).status, 200, 'the dashboard\'s own origin');
    assert.equal((await send('POST', '/pools/main/resume', { origin: 'http://app.internal:3000' })).status, 200, 'api.allowedOrigins');
    assert.equal((await send('POST', '/pools/main/pause')).status, 200, 'no Origin: curl, the CLI');
    await send('POST', '/pools/main/resume');
  });

  test('DNS rebinding: a Host that is not loopback, the bound address or api.allowedHosts gets 421, reads included', async () => {
    const rebound = await send('GET', '/workers/status', { host: 'evil.example' });
    assert.equal(rebound.status, 421);
    assert.equal(rebound.body.error.field, 'headers.host');
    assert.equal((await send('PUT', '/pools/main/replicas', { host: `evil.example:${port}`, ...json }, '{"replicas":1}')).status, 421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'dashboard.localhost', 'jobs.internal:8080']) {
      assert.equal((await send('GET', '/pools', { host })).status, 200, host);
    }
  });

  test('a body sent too slowly is cut off at api.requestTimeout; the API keeps answering', async () => {
    const sock = connect(port, '127.0.0.1');
    let reply = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { reply += d; });
    const closed = new Promise<void>((done) => sock.on('close', () => done()));
    sock.write(`POST /jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"task":`);
    await closed;  // the server ends it; a ceiling comes from the test runner's timeout
    assert.match(reply, /^HTTP\/1\.1 408/);
    assert.equal((await send('GET', '/healthz')).status, 200);
  });

  test('a slowloris (headers or a body trickled a byte at a time) is cut at api.requestTimeout, well before Node\'s own 60 s', async () => {
    // 1 s configured: the cut comes within a few seconds (Node checks on an interval); 20 s is a bound on behaviour
    // (a setting that is not applied waits 60 s or until the trickle ends), not a speed target.
    const trickle = async (head: string) => {
      const sock = connect(port, '127.0.0.1');
      let reply = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => { reply += d; });
      sock.on('error', () => {});
      const started = Date.now();
      const closed = new Promise<void>((done) => sock.on('close', () => done()));
      sock.write(head);
      const drip = setInterval(() => sock.write(head.endsWith('\r\n\r\n') ? ' ' : 'x'), 200);
      const cap = setTimeout(() => sock.destroy(), 30_000);
      await closed;
      clearInterval(drip);
      clearTimeout(cap);
      return { ms: Date.now() - started, reply };
    };
    const headers = await trickle(`GET /pools HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
    const body = await trickle(`POST /jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    console.log(`# slow headers cut after ${headers.ms} ms, slow body after ${body.ms} ms (requestTimeout 1 s)`);
    for (const [what, r] of [['headers', headers], ['body', body]] as const) {
      assert.ok(r.ms < 20_000, `a slow ${what} was cut after ${r.ms} ms`);
      assert.match(r.reply, /^HTTP\/1\.1 408/, `slow ${what}: ${r.reply.slice(0, 80)}`);
    }
  });

  test('with api.maxConnections slow connections held, /healthz and /readyz still answer; other routes say why they do not', async () => {
    const project = await fixtureProject({}, { redis: { url: redis.url }, api: { requestTimeout: '60s', maxConnections: 8 } });
    const capped = await createApi({ project, redisUrl: redis.url });
    const cport = Number(new URL(await capped.listen('127.0.0.1', 0)).port);
    const held: Socket[] = [];
    // A new connection per request (no keep-alive agent): each must get in past the held ones.
    const fresh = (path: string) => new Promise<{ status: number; body: any; connection?: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: cport, path, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end();
    });
    const connections = () => new Promise<number>((resolve) => capped.app.server.getConnections((_e, n) => resolve(n)));
    try {
      for (let i = 0; i < 8; i++) {
        const s = connect(cport, '127.0.0.1');
        s.on('error', () => {});
        s.write(`GET /pools HTTP/1.1\r\nHost: 127.0.0.1:${cport}\r\n`);
        held.push(s);
      }
      await waitFor(async () => (await connections()) === 8, 10_000, 'the 8 slow connections to be held');
      for (const path of ['/healthz', '/readyz']) {
        const r = await fresh(path);
        assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.connection, 'close', 'a connection past the cap is not kept alive');
      }
      const pools = await fresh('/pools');
      assert.equal(pools.status, 503);
      assert.equal(pools.body.error.code, 'too_many_connections');
      assert.match(pools.body.error.message, /api\.maxConnections \(8\)/);
      assert.equal(pools.connection, 'close');
    } finally {
      for (const s of held) s.destroy();
      await capped.close();
    }
  });

  test('runs x payload past api.groupPayloadLimit is a 413 naming the limit, and Redis does not grow; a group within it is taken', async () => {
    const admin = new Redis(redis.url);
    try {
      const used = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      const before = await used();
      // 100 KB, 1 000 runs: 100 MB stored, one copy a run, from a request of 100 KB.
      const big = { blob: 'x'.repeat(100_000) };
      const res = await send('POST', '/jobs', json, JSON.stringify({ task: 'fx.echo', payload: big, runs: 1000 }));
      const grew = (await used()) - before;
      console.log(`# 100 KB x 1 000 runs: ${res.status}, Redis grew by ${(grew / 1e6).toFixed(1)} MB`);
      assert.equal(res.status, 413, JSON.stringify(res.body).slice(0, 300));
      assert.deepEqual([res.body.error.code, res.body.error.field], ['group_too_large', 'body.runs']);
      assert.match(res.body.error.message, /1000 runs of 100011 bytes.*over api\.groupPayloadLimit \(16777216 bytes\).*raise api\.groupPayloadLimit/);
      assert.ok(grew < 1e6, `Redis grew by ${grew} bytes`);
      const small = await send('POST', '/jobs', json, JSON.stringify({ task: 'fx.echo', payload: { blob: 'x'.repeat(10_000) }, runs: 100 }));
      assert.equal(small.status, 201, JSON.stringify(small.body).slice(0, 300));
      assert.equal(small.body.children.length, 100);
    } finally {
      admin.disconnect();
    }
  });

  test('JSON nested 5 000 deep is a 400 naming the depth, not a 500', async () => {
    const deep = `{"task":"fx.echo","payload":{"value":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const res = await send('POST', '/jobs', json, deep);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_body');
    assert.match(res.body.error.message, /nests 5002 levels deep; at most 64/);
    const fine = await send('POST', '/jobs', json, `{"task":"fx.echo","payload":{"value":${'['.repeat(30)}"[{]}"${']'.repeat(30)}}}`);
    assert.equal(fine.status, 201, 'brackets inside strings do not count');
  });

  test('pool names that are object keys are unknown pools on every route, and a config cannot declare them', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      // A path names a resource (404); a filter is a bad query (400), as for any unknown pool.
      for (const [method, path, status] of [['GET', `/pools/${name}`, 404], ['POST', `/pools/${name}/pause`, 404], ['GET', `/jobs?pool=${name}`, 400]] as const) {
        const res = await send(method, path);
        assert.equal(res.status, status, `${method} ${path}`);
        assert.equal(res.body.error.code, 'unknown_pool');
      }
    }
    await assert.rejects(buildProject({ pools: { constructor: { queues: ['default'] } } }, { baseDir: process.cwd(), tasks: false }),
      (e: unknown) => e instanceof ConfigError && /pools\.constructor: invalid name: it is a property every JavaScript object already has/.test(e.message));
  });

  test('idempotency keys: order:1 and order_1 are two jobs; a 300-character key is addressable', async () => {
    const submit = async (key: string, value: number) => (await send('POST', '/jobs', json, JSON.stringify({ task: 'fx.echo', payload: { value }, options: { idempotencyKey: key } }))).body;
    const a = await submit('order:1', 1);
    const b = await submit('order_1', 2);
    assert.notEqual(a.id, b.id);
    assert.equal((await submit('order:1', 1)).id, a.id, 'the same key is the same job');
    assert.equal(idempotentJobId('work', 'order-17'), 'work~k-order-17', 'short safe keys stay readable');
    const long = await submit('k'.repeat(300), 3);
    assert.ok(long.id.length < 64, long.id);
    const got = await send('GET', `/jobs/${encodeURIComponent(long.id)}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.payload, { value: 3 });
  });

  test('an id naming a BullMQ key of a job is a 404, not a 500', async () => {
    const { id } = (await send('POST', '/jobs', json, JSON.stringify({ task: 'fx.echo', payload: {} }))).body;
    for (const suffix of [':logs', ':lock', ':dependencies']) {
      const res = await send('GET', `/jobs/${encodeURIComponent(id + suffix)}`);
      assert.equal(res.status, 404, suffix);
      assert.equal(res.body.error.code, 'not_found');
    }
  });

  test('absurd options are refused naming the field: delay 1e308, retries 1e9, replicas -1 and 1.5', async () => {
    const opt = async (options: object) => (await send('POST', '/jobs', json, JSON.stringify({ task: 'fx.echo', payload: {}, options }))).body.error;
    assert.deepEqual([(await opt({ delay: 1e308 })).field, (await opt({ retries: 1e9 })).field], ['body.options.delay', 'body.options.retries']);
    const pin = async (replicas: number) => (await send('PUT', '/pools/main/replicas', json, JSON.stringify({ replicas }))).body.error.message;
    assert.match(await pin(-1), /replicas must be 0 or more/);
    assert.match(await pin(1.5), /replicas must be a whole number/);
  });

  test('the dashboard cannot be framed or sniffed', async () => {
    const page = await send('GET', '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    assert.equal(page.headers['content-security-policy'], "frame-ancestors 'none'");
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
  });

  test('configs that once slipped through: a token of spaces, an empty file', async () => {
    await assert.rejects(buildProject({ pools: { main: { queues: ['default'] } }, auth: { tokens: [{ token: ' '.repeat(16) }] } }, { baseDir: process.cwd(), tasks: false }),
      (e: unknown) => e instanceof ConfigError && /auth\.tokens\.0\.token: use a token of at least 16 characters with no spaces/.test(e.message));
    await assert.rejects(buildProject(null, { baseDir: process.cwd(), tasks: false }),
      (e: unknown) => e instanceof ConfigError && /the config is empty; it must be a mapping with at least "pools"/.test(e.message));
  });
});
