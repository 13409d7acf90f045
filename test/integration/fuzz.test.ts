/**
 * Fuzzing, seeded so that a failure replays: random and malformed requests against every route the API serves
 * (read from its own /openapi.json, plus the dashboard's and some that do not exist) and random broken configs.
 * Every request is answered below 500, the API stays up, no promise is left rejected, and a request refused with
 * a 4xx changed nothing in Redis. Every broken config is a ConfigError naming the field, never a crash.
 *
 *   TRIREME_FUZZ_SEED=7 TRIREME_FUZZ_ROUNDS=20000 node --import tsx --test test/integration/fuzz.test.ts
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, fixtureProject, seeded, FIXTURE_TASKS, ROOT, type TestRedis } from '../helpers.js';
import { createApi, type Api } from '../../src/api/server.js';
import { buildProject } from '../../src/project/project.js';
import { ConfigError } from '../../src/core/config.js';

const SEED = Number(process.env.TRIREME_FUZZ_SEED ?? 1);
const ROUNDS = Number(process.env.TRIREME_FUZZ_ROUNDS ?? 1500);

const rand = seeded(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const chance = (p: number) => rand() < p;

/** Strings that have broken parsers somewhere. */
const NASTY = ['', ' ', '0', '-1', '1.5', '1e9', '1e308', 'NaN', 'null', 'true', '[]', '{}', '__proto__', 'constructor', 'toString',
  'hasOwnProperty', '..', '../..', '%2e%2e%2f', '%00', '\u0000', 'a'.repeat(5000), 'é', '😀', '<script>alert(1)</script>', "'; DROP TABLE jobs;--",
  'light', 'heavy', 'work', 'fx.echo', 'fx.sleep', 'work:1', 'work:k-x', 'work:h-abc', 'work:1:logs', 'work:meta', 'work:wait', '*', '?', '#', '/', '\\', ' light'];
const KEYS = ['task', 'payload', 'queue', 'priority', 'delay', 'idempotencyKey', 'retries', 'jobs', 'replicas', 'state', 'pool', 'limit',
  'cursor', 'from', 'to', 'since', '__proto__', 'constructor', 'x'];

function value(depth = 0): unknown {
  const r = rand();
  if (depth > 4 || r < 0.35) return pick<unknown>([...NASTY, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, true, false, null]);
  if (r < 0.55) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[pick(KEYS)] = value(depth + 1);
  return o;
}

/** A body: usually JSON of some shape, sometimes text that is not JSON, sometimes deeply nested. */
function body(): string | undefined {
  const r = rand();
  if (r < 0.15) return undefined;
  if (r < 0.25) return pick(['{', '{"task":', 'nul', '[1,2', '\u0000', '{"a":1}{"b":2}', '"', 'task=fx.echo', '']);
  if (r < 0.3) return '['.repeat(100 + Math.floor(rand() * 5000));
  if (r < 0.36) {
    // A multipart upload, well or badly formed (sent under whatever content type was drawn).
    const name = pick(['a.txt', '../x', 'a/b', '.env', '', 'ok.bin', 'é.txt', 'x'.repeat(300)]);
    const field = pick(['task', 'payload', 'options', 'jobs', '__proto__']);
    // Fields nested deep, and file parts with no filename (sent as a file by their content type), once 500s.
    const value = pick(['fx.echo', '{}', '{', 'null', `{"a":${'['.repeat(3000)}${']'.repeat(3000)}}`]);
    const file = chance(0.2) ? 'name="file"\r\nContent-Type: application/octet-stream' : `name="file"; filename="${name}"`;
    return `--x\r\nContent-Disposition: form-data; name="${field}"\r\n\r\n${value}\r\n--x\r\nContent-Disposition: form-data; ${file}\r\n\r\n${'z'.repeat(Math.floor(rand() * 2000))}\r\n${chance(0.8) ? '--x--\r\n' : ''}`;
  }
  if (r < 0.55) {
    // Close to valid: a submit with one field wrong.
    const ok: Record<string, unknown> = { task: 'fx.echo', payload: { value: 1 } };
    ok[pick(KEYS)] = value(1);
    return JSON.stringify(ok);
  }
  return JSON.stringify(value());
}

function query(): string {
  if (chance(0.5)) return '';
  const parts = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => `${encodeURIComponent(pick(KEYS))}=${chance(0.3) ? pick(['%', '%zz', '%00', '']) : encodeURIComponent(String(pick(NASTY)))}`);
  return `?${parts.join('&')}`;
}

function pathFor(template: string): string {
  return template.replace(/\{[^}]+\}|:[A-Za-z]+/g, () => {
    const v = String(pick(NASTY));
    return chance(0.15) ? v.replace(/[^A-Za-z0-9]/g, '') || 'x' : encodeURIComponent(v);
  });
}

const storageDir = mkdtempSync(join(tmpdir(), 'trireme-fuzz-files-'));
let redis: TestRedis;
let admin: Redis;
let api: Api;
let port: number;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => { unhandled.push(e); };

interface Answer { status: number; text: string }
function send(method: string, path: string, headers: Record<string, string>, data?: string, stream = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(data !== undefined ? { 'content-length': String(Buffer.byteLength(data)) } : {}), ...headers } }, (res) => {
      // An event stream stays open: its status and headers are the answer.
      if (stream && /event-stream/.test(String(res.headers['content-type']))) { resolve({ status: res.statusCode!, text: '' }); req.destroy(); return; }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Everything in Redis and every path under storage.dir, as one hash: a refused request must leave them as they were. */
async function fingerprint(): Promise<string> {
  const keys = (await admin.keys('*')).sort();
  const h = createHash('sha256');
  h.update(readdirSync(storageDir, { recursive: true }).map(String).sort().join('\n'));
  for (const k of keys) {
    const d = await admin.dump(k);
    h.update(k).update('\0').update(d ?? '').update('\0');
  }
  return h.digest('hex');
}

describe('fuzzing', () => {
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await startRedis();
    admin = new Redis(redis.url);
    const project = await fixtureProject({}, { redis: { url: redis.url }, storage: { dir: storageDir, maxFileSize: '1kb', maxFiles: 2 }, pools: {
      main: { queues: ['work'], concurrency: 2 },
      heavy: { queues: ['heavy'], concurrency: 1, scaling: { min: 0, max: 3 } },
    }, routes: [{ match: 'fx.sleep', queue: 'heavy' }] });
    api = await createApi({ project, redisUrl: redis.url, followPollMs: 50 });
    port = Number(new URL(await api.listen('127.0.0.1', 0)).port);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await api.close();
    admin.disconnect();
    await redis.stop();
  });

  test(`${ROUNDS} random requests against every route (seed ${SEED}): no 5xx, no crash, a 4xx changes nothing`, async () => {
    const spec = JSON.parse((await send('GET', '/openapi.json', {})).text) as { paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, unknown> }> }>> };
    const routes: { method: string; path: string; stream: boolean }[] = [];
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const stream = Object.values(op.responses ?? {}).some((r) => r.content && 'text/event-stream' in r.content);
        routes.push({ method: method.toUpperCase(), path, stream });
      }
    }
    assert.ok(routes.length >= 20, `the API describes its routes (${routes.length} found)`);
    routes.push({ method: 'GET', path: '/', stream: false }, { method: 'GET', path: '/ui/{file}', stream: false }, { method: 'GET', path: '/ui/vendor/{file}', stream: false },
      { method: 'GET', path: '/nothing/{here}', stream: false });
    const tally: Record<string, number> = {};
    const byRoute = new Map<string, Set<number>>();
    for (let i = 0; i < ROUNDS; i++) {
      const r = pick(routes);
      const method = chance(0.85) ? r.method : pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']);
      const path = pathFor(r.path) + query();
      const data = method === 'GET' || method === 'HEAD' ? (chance(0.1) ? body() : undefined) : body();
      const headers: Record<string, string> = {};
      const ct = pick(['application/json', 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', '', 'application/json; charset=latin1']);
      if (ct && data !== undefined) headers['content-type'] = ct;
      if (chance(0.1)) headers.origin = pick(['http://evil.example', 'null', `http://127.0.0.1:${port}`, '']);
      if (chance(0.05)) headers.host = pick(['evil.example', `127.0.0.1:${port}`, 'localhost', '[::1]']);
      if (chance(0.05)) headers.authorization = pick(['Bearer ', 'Bearer x', 'Basic Zm9vOmJhcg==', 'x'.repeat(300)]);
      if (chance(0.05)) headers.accept = pick(['text/event-stream', '*/*', 'application/xml']);
      const before = r.method === 'GET' ? undefined : await fingerprint();
      if (process.env.TRIREME_FUZZ_TRACE) console.error(`fuzz ${i}: ${method} ${path.slice(0, 120)}`);
      const answer = await send(method, path, headers, data, r.stream);
      const what = `${method} ${path.slice(0, 200)} [${ct}] ${String(data).slice(0, 200)}`;
      assert.ok(answer.status < 500, `${what} answered ${answer.status}: ${answer.text.slice(0, 300)}`);
      if (answer.status >= 400 && before !== undefined) assert.equal(await fingerprint(), before, `${what} answered ${answer.status} and changed Redis`);
      if (answer.status >= 400 && answer.status !== 404 && answer.status !== 405 && /json/.test(answer.text.slice(0, 1) === '{' ? 'json' : '')) {
        // Refusals say what was wrong: an error code and a message.
        const b = JSON.parse(answer.text) as { error?: { code?: string; message?: string } };
        assert.ok(b.error?.code && b.error?.message, `${what} answered ${answer.status} without an error code and message: ${answer.text.slice(0, 200)}`);
      }
      const k = `${Math.floor(answer.status / 100)}xx`;
      tally[k] = (tally[k] ?? 0) + 1;
      (byRoute.get(`${r.method} ${r.path}`) ?? byRoute.set(`${r.method} ${r.path}`, new Set()).get(`${r.method} ${r.path}`)!).add(answer.status);
    }
    console.log(`fuzz: ${ROUNDS} requests over ${routes.length} routes, seed ${SEED}: ${JSON.stringify(tally)}`);
    assert.equal((await send('GET', '/healthz', {})).status, 200, 'the API still answers');
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
    // Every route was reached with something it refused: the fuzzer is not just bouncing off one guard.
    for (const [route, statuses] of byRoute) assert.ok([...statuses].some((s) => s >= 400 && s !== 421), `${route} never refused anything: ${[...statuses]}`);
  });

  test('random broken configs are ConfigErrors naming the field, never a crash', async () => {
    const good = (): Record<string, any> => ({
      prefix: 'fz', tasks: [FIXTURE_TASKS], defaultQueue: 'work',
      routes: [{ match: 'fx.*', queue: 'heavy' }],
      controller: { interval: '500ms', leaseTtl: '2s' },
      api: { port: 0, bodyLimit: '64kb' },
      pools: {
        light: { queues: ['work'], concurrency: 2, scaling: { min: 1, max: 2 } },
        heavy: { queues: ['heavy'], concurrency: 1, drainGrace: '10s', scaling: { policy: 'threshold', min: 0, max: 3, idleShutdown: '2s' } },
      },
    });
    // Every path to a leaf of the good config.
    const paths: string[][] = [];
    const walk = (o: unknown, at: string[]) => {
      if (o && typeof o === 'object') {
        paths.push(at);
        for (const [k, v] of Object.entries(o)) walk(v, [...at, k]);
      } else paths.push(at);
    };
    walk(good(), []);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const cfg = good();
      const path = pick(paths.filter((p) => p.length > 0));
      const parent: any = path.slice(0, -1).reduce((o: any, k) => o[k], cfg);
      const key = path[path.length - 1];
      const how = rand();
      let named: string;
      if (how < 0.15 && !Array.isArray(parent)) { delete parent[key]; named = key; } else if (how < 0.3 && !Array.isArray(parent)) { parent[`${key}X`] = 1; named = `${key}X`; } else { parent[key] = value(2); named = key; }
      try {
        await buildProject(cfg, { baseDir: ROOT });
      } catch (e) {
        assert.ok(e instanceof ConfigError, `${path.join('.')} = ${JSON.stringify(parent[key])?.slice(0, 100)}: ${(e as Error).stack}`);
        refused++;
        // Each problem starts with the field it is about; a changed or added field is the one named (a removed one
        // may instead break a rule elsewhere: no pool left serving the default queue names defaultQueue).
        for (const p of e.problems) assert.match(p, /^((\(top level\)|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*): \S|the config is empty)/, `${path.join('.')}: a problem that names no field: ${p}`);
        const names = [...path, named].filter((k) => !/^\d+$/.test(k));
        if (how >= 0.15) assert.ok(names.some((n) => e.message.includes(n)), `${path.join('.')}: the error names none of ${names}: ${e.message}`);
      }
    }
    assert.ok(refused > 150, `most mutations are refused (${refused} of 300)`);
  });
});
