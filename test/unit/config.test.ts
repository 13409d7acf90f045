import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/core/config.js';
import { parseDuration, parseSize, formatDuration } from '../../src/core/units.js';
import { Router } from '../../src/core/routing.js';

const problems = (cfg: unknown): string[] => {
  try { parseConfig(cfg); } catch (e) { if (e instanceof ConfigError) return e.problems; throw e; }
  return [];
};

test('durations and sizes parse, with hints on bad input', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseSize('2Gi'), 2 * 1024 ** 3);
  assert.equal(parseSize('512Mi'), 512 * 1024 ** 2);
  assert.equal(parseSize('1.5G'), 1.5e9);
  assert.throws(() => parseDuration('5x'), /write it like/);
  assert.throws(() => parseSize('lots'), /write it like 512Mi/);
  assert.equal(formatDuration(330_000), '5m30s');
});

test('every problem is listed by its path, in one pass', () => {
  const p = problems({
    pools: { heavy: { queues: ['shap'], concurrency: 0, scaling: { min: 2, max: 1, cooldownUp: '5x' }, bogus: true } },
    routes: [{ match: 'shap.*', queue: 'nowhere' }],
  });
  assert.ok(p.includes('pools.heavy.scaling.max: must be >= min (2)'), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith('pools.heavy.concurrency:')));
  assert.ok(p.some((x) => x.startsWith('pools.heavy.scaling.cooldownUp: "5x" is not a duration')));
  assert.ok(p.some((x) => x.includes('unknown field(s) "bogus"')));
  assert.ok(p.includes('routes.0.queue: queue "nowhere" is served by no pool; add it to a pool\'s queues'));
  assert.ok(p.includes('defaultQueue: queue "default" is served by no pool; add it to a pool\'s queues'));
});

test('a queue served by two pools is refused', () => {
  const p = problems({ pools: { a: { queues: ['default'] }, b: { queues: ['default'] } } });
  assert.deepEqual(p, ['pools.b.queues: queue "default" is already served by pool "a"; a queue belongs to one pool']);
});

test('thresholds that would flap are refused', () => {
  const p = problems({ pools: { a: { queues: ['default'], scaling: { policy: 'threshold', scaleUpThreshold: 2, scaleDownThreshold: 2 } } } });
  assert.match(p[0], /^pools\.a\.scaling\.scaleDownThreshold: must be below scaleUpThreshold/);
});

test('the hpa policy refuses the timers it would ignore, naming behavior instead', () => {
  const p = problems({ pools: { a: { queues: ['default'], scaling: { policy: 'hpa', idleShutdown: '5m', cooldownDown: '1m' } } } });
  assert.deepEqual(p.map((x) => x.split(':')[0]), ['pools.a.scaling.cooldownDown', 'pools.a.scaling.idleShutdown']);
  assert.match(p[0], /the hpa policy does not read this; set scaling\.behavior/);
  assert.deepEqual(problems({ pools: { a: { queues: ['default'], scaling: { policy: 'hpa', behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } } } } }), []);
});

test('routing: first match wins, explicit queue wins, default otherwise', () => {
  const r = new Router([{ match: 'shap.*', queue: 'shap' }, { match: '*.explain', queue: 'other' }], 'default', { a: { queues: ['shap', 'other', 'default'] } });
  assert.equal(r.queueFor('shap.explain'), 'shap');
  assert.equal(r.queueFor('lime.explain'), 'other');
  assert.equal(r.queueFor('shap.explain', 'default'), 'default');
  assert.equal(r.queueFor('api.ping'), 'default');
  assert.equal(r.queueFor('shapley.x'), 'default', 'shap.* needs the dot');
  assert.equal(r.poolFor('shap'), 'a');
  // Names are remembered once routed: the same answers the second time, an explicit queue still wins, and a flood
  // of invented names does not change any answer.
  assert.equal(r.queueFor('shap.explain'), 'shap');
  assert.equal(r.queueFor('lime.explain'), 'other');
  assert.equal(r.queueFor('lime.explain', 'shap'), 'shap');
  for (let i = 0; i < 10_000; i++) assert.equal(r.queueFor(`x${i}.explain`), 'other');
  assert.equal(r.queueFor('shap.explain'), 'shap');
  assert.equal(r.queueFor('api.ping'), 'default');
});

test('a Redis URL is checked where it comes in: each problem named, the password never shown', async () => {
  const { redisUrlProblem, redactRedisUrl } = await import('../../src/core/redis-url.js');
  for (const ok of ['redis://127.0.0.1:6379', 'redis://h', 'rediss://user:pw@h:6380/2', 'redis://[::1]:6379', 'redis://:pw@h:1/0']) assert.equal(redisUrlProblem(ok), undefined, ok);
  assert.match(redisUrlProblem('localhost:6379x')!, /^"localhost:6379x" has no scheme: write redis:\/\/HOST:PORT/);
  assert.match(redisUrlProblem('redis://localhost:6379x')!, /port "6379x" is not a port number \(1 to 65535\)/);
  assert.match(redisUrlProblem('redis://h:0')!, /port "0" is not a port number/);
  assert.match(redisUrlProblem('http://h:6379')!, /"http:\/\/" is not a Redis scheme/);
  assert.match(redisUrlProblem('redis://:pw@:6379')!, /^"redis:\/\/:\*\*\*@:6379" names no host/);
  assert.match(redisUrlProblem('redis://h/one')!, /database "one" is not a number/);
  assert.equal(redactRedisUrl('redis://user:se:cret@h:1/0'), 'redis://user:***@h:1/0');
  assert.deepEqual(problems({ redis: { url: 'localhost:6379x' }, pools: { a: { queues: ['default'] } } }), ['redis.url: "localhost:6379x" has no scheme: write redis://HOST:PORT (rediss:// for TLS), e.g. redis://127.0.0.1:6379']);
});
