/**
 * API auth settings over real HTTP, with the API embedded (no controller): protected reads, read-only tokens, and
 * the refusal to listen beyond loopback without a token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, fixtureProject, type TestRedis } from '../helpers.js';
import { createApi, type Api } from '../../src/api/server.js';
import { ConfigError } from '../../src/core/config.js';

const FULL = 'full-token-abcdefghijklmnop';
const READ = 'read-token-abcdefghijklmnop';
let redis: TestRedis;
let api: Api;
let base: string;

const get = async (path: string, token?: string) => {
  const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json() as any };
};

describe('API auth', () => {
  before(async () => {
    redis = await startRedis();
    const project = await fixtureProject({}, { redis: { url: redis.url }, auth: { tokens: [{ token: FULL }, { token: READ, readOnly: true }], protectReads: true } });
    api = await createApi({ project, redisUrl: redis.url });
    base = await api.listen('127.0.0.1', 0);
  });
  after(async () => {
    await api.close();
    await redis.stop();
  });

  test('with protectReads, reads need a token (read-only is enough); health, readiness and /info stay open', async () => {
    const none = await get('/pools');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.field, 'headers.authorization');
    assert.equal((await get('/pools', READ)).status, 200);
    assert.equal((await get('/metrics', 'wrong-token-abcdefghijk')).status, 401);
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 200);
    assert.deepEqual((await get('/info')).body.auth, { writes: 'token', reads: 'token' });
    const sse = await fetch(`${base}/events`);
    assert.equal(sse.status, 401, 'event streams are reads too');
    await sse.body?.cancel();
  });

  test('a read-only token cannot write; a full one can; "Bearer" is matched without case', async () => {
    const put = (token: string, scheme = 'Bearer') => fetch(`${base}/pools/main/pause`, { method: 'POST', headers: { authorization: `${scheme} ${token}` } });
    const ro = await put(READ);
    assert.equal(ro.status, 403);
    assert.equal(((await ro.json()) as any).error.code, 'read_only_token');
    assert.equal((await put(FULL, 'bearer')).status, 200);
    assert.equal((await put(FULL, 'Basic')).status, 401);
  });

  test('listening beyond loopback with no token is refused, naming auth.tokens', async () => {
    const open = await createApi({ project: await fixtureProject({}, { redis: { url: redis.url } }), redisUrl: redis.url });
    try {
      await assert.rejects(open.listen('0.0.0.0', 0), (e: unknown) => e instanceof ConfigError && /auth\.tokens: the API would listen on 0\.0\.0\.0/.test(e.message));
      assert.equal(open.app.server.listening, false);
    } finally {
      await open.close();
    }
  });
});
