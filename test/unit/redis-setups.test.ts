/**
 * Sentinel and Cluster without a server: their URLs and config blocks, where keys go on a Cluster, and the verdicts
 * `trireme doctor` gives on a Redis setup (table-driven). The servers themselves: test/integration/sentinel.test.ts
 * and cluster.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseRedisUrl, redactRedisUrl, redisUrlProblem, urlOfBlock } from '../../src/core/redis-url.js';
import { parseConfig, ConfigError } from '../../src/core/config.js';
import { Keyspace, ownPrefix } from '../../src/redis/keyspace.js';
import { judgeSentinel, judgeServers, type ServerFacts } from '../../src/redis/setup-checks.js';
import { buildProject } from '../../src/project/project.js';
import { ROOT } from '../helpers.js';

const problems = (raw: unknown) => { try { parseConfig(raw); return []; } catch (e) { return (e as ConfigError).problems; } };
const pools = { a: { queues: ['default', 'reports'] } };

test('redis+sentinel:// URLs: sentinels with their default port, the master, db and passwords (in the user part or as parameters)', () => {
  assert.deepEqual(parseRedisUrl('redis+sentinel://10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster?db=2&password=p%40ss&sentinelPassword=s'), {
    mode: 'sentinel', sentinels: [{ host: '10.0.0.1', port: 26380 }, { host: '10.0.0.2', port: 26379 }, { host: '::1', port: 26381 }],
    name: 'mymaster', db: 2, tls: false, password: 'p@ss', sentinelPassword: 's',
  });
  assert.deepEqual(parseRedisUrl('rediss+sentinel://app:pw@h:1/m/3'), { mode: 'sentinel', sentinels: [{ host: 'h', port: 1 }], name: 'm', db: 3, tls: true, username: 'app', password: 'pw' });
  assert.match(redisUrlProblem('redis+sentinel://h:26379')!, /names no master; write redis\+sentinel:\/\/HOST:PORT/);
  assert.match(redisUrlProblem('redis+sentinel://h:26379/m?pasword=x')!, /unknown parameter "pasword"; sentinel URLs take db, password/);
  assert.match(redisUrlProblem('redis+sentinel://h:26379,h:x/m')!, /port "x" is not a port number/);
  assert.match(redisUrlProblem('redis+sentinel://h:1,,h:2/m')!, /names no host in "" \(hosts are separated by commas\)/);
  assert.match(redisUrlProblem('redis+sentinel://h/m?db=one')!, /database "one" is not a number/);
});

test('redis+cluster:// URLs: any number of nodes, database 0 only; one server takes one host; unknown schemes name all three', () => {
  assert.deepEqual(parseRedisUrl('redis+cluster://:pw@a:7000,b'), { mode: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 6379 }], tls: false, password: 'pw' });
  assert.equal(redisUrlProblem('redis+cluster://a:7000/0'), undefined);
  assert.match(redisUrlProblem('redis+cluster://a:7000/2')!, /a Redis Cluster has only database 0/);
  assert.match(redisUrlProblem('redis://a:1,b:2')!, /names several hosts; one server takes one/);
  assert.match(redisUrlProblem('redis+shard://a')!, /"redis\+shard:\/\/" is not a Redis scheme; write .*redis\+sentinel:\/\/.*redis\+cluster:\/\//);
  assert.equal(redactRedisUrl('redis+sentinel://u:secret@h/m?password=x&sentinelPassword=y&db=1'), 'redis+sentinel://u:***@h/m?password=***&sentinelPassword=***&db=1');
});

test('the config\'s sentinel and cluster blocks become the one URL every part passes on; mistakes are named by path', () => {
  const sentinel = parseConfig({ redis: { sentinel: { sentinels: ['a:26379', 'b:26379'], name: 'my master', password: 'p&w', db: 1 } }, pools });
  assert.equal(sentinel.redis.url, 'redis+sentinel://a:26379,b:26379/my%20master?db=1&password=p%26w');
  assert.deepEqual(parseRedisUrl(sentinel.redis.url!), { mode: 'sentinel', sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26379 }], name: 'my master', db: 1, tls: false, password: 'p&w' });
  assert.equal(parseConfig({ redis: { cluster: { nodes: ['a:7000'], tls: true } }, pools }).redis.url, 'rediss+cluster://a:7000');
  assert.equal(urlOfBlock({ cluster: { nodes: ['a:1', 'b:2'], password: 'x' } }), 'redis+cluster://a:1,b:2?password=x');
  const defaults = parseConfig({ pools }).redis;
  assert.deepEqual(defaults, { url: undefined, waitForReplicas: 0, waitTimeout: 2000, hashTags: {} });
  assert.deepEqual(problems({ redis: { url: 'redis://h', cluster: { nodes: ['a:1'] } }, pools }), ['redis.cluster: give one of url, sentinel and cluster, not url and cluster']);
  assert.deepEqual(problems({ redis: { sentinel: { sentinels: ['a:1', 'b:x', 'c,d'], name: '' } }, pools }), [
    'redis.sentinel.sentinels.1: "b:x" is not HOST:PORT (an IPv6 address in brackets: [::1]:6379)',
    'redis.sentinel.sentinels.2: "c,d" is not HOST:PORT (an IPv6 address in brackets: [::1]:6379)',
    'redis.sentinel.name: give the master name the sentinels monitor (sentinel monitor NAME ... in sentinel.conf)',
  ]);
  assert.deepEqual(problems({ redis: { sentinel: { sentinels: [], name: 'm' } }, pools }), ['redis.sentinel.sentinels: list the sentinels as HOST:PORT, e.g. [10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379]']);
  assert.deepEqual(problems({ redis: { waitForReplicas: -1, waitTimeout: 0, hashTags: { nope: 'x', reports: '{bad}' } }, pools }), [
    'redis.waitForReplicas: Too small: expected number to be >=0',
    'redis.hashTags.reports: write a tag without braces or spaces, e.g. heavy',
    'redis.waitTimeout: must be above 0 (WAIT 0 would wait forever), e.g. 2s',
    'redis.hashTags.nope: queue "nope" is served by no pool; hashTags places the pools\' queues',
  ]);
  assert.deepEqual(problems({ redis: { waitTimeout: 0 }, pools }), ['redis.waitTimeout: must be above 0 (WAIT 0 would wait forever), e.g. 2s']);
});

test('TRIREME_REDIS_URL replaces the URL only: waitForReplicas and hashTags from the config still hold', async () => {
  const p = await buildProject({ redis: { url: 'redis://h:1', waitForReplicas: 1, waitTimeout: '500ms', hashTags: { reports: 'heavy' } }, pools }, {
    baseDir: ROOT, tasks: false, env: { TRIREME_REDIS_URL: 'redis+sentinel://s1,s2/m' },
  });
  assert.deepEqual(p.config.redis, { url: 'redis+sentinel://s1,s2/m', waitForReplicas: 1, waitTimeout: 500, hashTags: { reports: 'heavy' } });
  await assert.rejects(buildProject({ pools }, { baseDir: ROOT, tasks: false, env: { TRIREME_REDIS_URL: 'redis+sentinel://s1' } }), /TRIREME_REDIS_URL is invalid:[\s\S]*names no master/);
});

test('keys on a Cluster: Trireme\'s own under one tag, each queue under its own (or the one hashTags gives); unchanged elsewhere', () => {
  const single = new Keyspace('trireme', false, { reports: 'heavy' });
  assert.equal(single.own, 'trireme');
  assert.equal(single.queuePrefix('reports'), 'trireme');
  assert.equal(single.queueKey('emails', 'wait'), 'trireme:emails:wait');
  const cluster = new Keyspace('trireme', true, { reports: 'heavy', exports: 'heavy' });
  assert.equal(cluster.own, '{trireme}');
  assert.equal(cluster.queueKey('emails', 'wait'), '{trireme:emails}:emails:wait');
  assert.equal(cluster.queuePrefix('reports'), '{trireme:heavy}');
  assert.equal(cluster.queuePrefix('exports'), cluster.queuePrefix('reports'));
  assert.equal(cluster.queuePrefix('constructor'), '{trireme:constructor}', 'a queue named like an Object property is its own tag');
  assert.equal(ownPrefix({ isCluster: true }, 'p'), '{p}');
  assert.equal(ownPrefix({ isCluster: false }, 'p'), 'p');
});

test('every key of keys.ts is built from the connection\'s own prefix (ownPrefix), never from the config\'s directly', () => {
  // On a Cluster a key named from config.prefix lands outside the own keys' slot: a transaction with it fails with
  // CROSSSLOT, and a channel named from it is not the one the other side listens on.
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) { walk(path); continue; }
      if (!path.endsWith('.ts')) continue;
      readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
        if (/keys\.\w+\(\s*[\w.]*(config|cfg)\.prefix\b/.test(line) || /keys\.\w+\(\s*(opts|o)\.prefix\b/.test(line)) offenders.push(`${path.slice(ROOT.length + 1)}:${i + 1}: ${line.trim()}`);
      });
    }
  };
  walk(join(ROOT, 'src'));
  assert.deepEqual(offenders, []);
});

const server = (o: Partial<ServerFacts> = {}): ServerFacts => ({ address: '10.0.0.1:6379', version: '7.2.4', replicas: 1, maxmemory: 0, policy: 'noeviction', aof: true, appendfsync: 'everysec', save: '', ...o });

test('doctor\'s verdicts on a Redis setup, each saying the fix', () => {
  const cases: { name: string; servers: ServerFacts[]; mode?: string; wait?: number; expect: Record<string, [string, RegExp?]> }[] = [
    { name: 'all good', servers: [server()], expect: { redis: ['ok', /^7\.2\.4 at L, primary 10\.0\.0\.1:6379$/], 'redis eviction': ['ok'], 'redis persistence': ['ok', /AOF on \(appendfsync everysec\)/] } },
    { name: 'too old', servers: [server({ version: '6.0.16' })], expect: { redis: ['fail', /Trireme needs Redis 6\.2 or newer .*upgrade redis-server on 10\.0\.0\.1:6379/] } },
    { name: 'evicts with a limit', servers: [server({ policy: 'allkeys-lru', maxmemory: 1e9 })], expect: { 'redis eviction': ['fail', /allkeys-lru with maxmemory 1000000000 bytes .*BullMQ loses jobs.*set maxmemory-policy noeviction/] } },
    { name: 'evicts once a limit is set', servers: [server({ policy: 'volatile-lru' })], expect: { 'redis eviction': ['warn', /no maxmemory is set now/] } },
    { name: 'policy hidden', servers: [server({ policy: undefined })], expect: { 'redis eviction': ['warn', /could not be read/] } },
    { name: 'nothing on disk, no replica', servers: [server({ aof: false, replicas: 0 })], expect: { 'redis persistence': ['fail', /a restart loses every queued job; set appendonly yes/] } },
    { name: 'nothing on disk, replicas', servers: [server({ aof: false })], mode: 'sentinel', expect: { 'redis persistence': ['warn', /restarted empty before a failover wipes them/], 'redis replicas': ['ok'] } },
    { name: 'RDB only', servers: [server({ aof: false, save: '3600 1' })], expect: { 'redis persistence': ['warn', /RDB snapshots only \(save "3600 1"\).*set appendonly yes/] } },
    { name: 'CONFIG refused, no AOF', servers: [server({ aof: false, save: undefined })], expect: { 'redis persistence': ['warn', /RDB snapshots only: /] } },
    { name: 'a cluster primary without a replica', servers: [server(), server({ address: 'b:1', replicas: 0 })], mode: 'cluster', expect: { redis: ['ok', /, 2 primaries$/], 'redis replicas': ['fail', /b:1 has no replica/] } },
    { name: 'waitForReplicas above the replicas', servers: [server()], wait: 2, expect: { 'redis replicas': ['fail', /waitForReplicas is 2 but 10\.0\.0\.1:6379 has 1 replica\(s\).*every submit waits redis\.waitTimeout and fails/] } },
    { name: 'waitForReplicas met', servers: [server({ replicas: 2 })], wait: 2, expect: { 'redis replicas': ['ok', /acknowledged once 2 hold it/] } },
  ];
  for (const c of cases) {
    const checks = judgeServers(c.servers, { label: 'L', mode: c.mode ?? 'single', waitForReplicas: c.wait ?? 0 });
    for (const [name, [status, detail]] of Object.entries(c.expect)) {
      const check = checks.find((x) => x.name === name);
      assert.ok(check, `${c.name}: no "${name}" check in ${JSON.stringify(checks)}`);
      assert.equal(check.status, status, `${c.name}: ${check.detail}`);
      if (detail) assert.match(check.detail, detail, c.name);
    }
  }
  assert.equal(judgeServers([server()], { label: 'L', mode: 'single', waitForReplicas: 0 }).some((c) => c.name === 'redis replicas'), false, 'one server without waitForReplicas: replicas are its own business');
});

test('doctor\'s verdicts on a Sentinel set', () => {
  const f = { sentinels: 3, quorum: 2, replicas: 2, primary: '10.0.0.1:6379', ckquorum: 'OK 3 usable Sentinels. Quorum and failover authorization can be reached' };
  assert.equal(judgeSentinel(f, 'm').status, 'ok');
  const two = judgeSentinel({ ...f, sentinels: 2 }, 'm');
  assert.equal(two.status, 'warn');
  assert.match(two.detail, /^2 sentinel\(s\) monitor "m" \(quorum 2\), primary 10\.0\.0\.1:6379, 2 replica\(s\): with fewer than three sentinels.*run three or more, on separate machines/);
  const noQuorum = judgeSentinel({ ...f, ckquorum: 'NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master' }, 'm');
  assert.equal(noQuorum.status, 'fail');
  assert.match(noQuorum.detail, /: 1 usable Sentinels\. Not enough .*; a failover cannot be authorized/);
  assert.equal(judgeSentinel({ ...f, replicas: 0 }, 'm').status, 'fail');
});

test('the KEDA export warns that a Cluster\'s triggers need the redis-cluster scaler and the tagged list names', async () => {
  const { kedaObjects } = await import('../../src/drivers/kubernetes/autoscalers.js');
  const o = { image: 'img', controllerImage: 'img', source: 'trireme.yml', configText: '' };
  const of = async (url: string) => kedaObjects(await buildProject({ redis: { url }, pools: { a: { queues: ['default'] } } }, { baseDir: ROOT, tasks: false }), o)[0];
  const cluster = await of('redis+cluster://a:7000,b:7000');
  assert.match(cluster.warnings?.[0] ?? '', /Redis Cluster: .*\{<prefix>:<tag>\}:<queue>:wait.*redis-cluster scaler/);
  assert.match(cluster.content, /^# WARNING: redis\.url is a Redis Cluster/m);
  assert.equal((await of('redis+sentinel://s1/m')).warnings, undefined, 'Sentinel keeps the single-Redis key names');
});
