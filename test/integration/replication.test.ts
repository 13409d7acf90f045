/**
 * "Acknowledged means kept" (redis.waitForReplicas), on a real primary with a replica: a submit returns once the
 * replica holds the job (read from the replica the moment the submit returns); with the replica stopped (SIGSTOP: it
 * takes no replication stream) a submit waits redis.waitTimeout and fails with NotReplicatedError, and the API answers
 * 503 not_replicated, while a submit without waitForReplicas is acknowledged by the primary alone; and a write whose
 * connection was lost before the WAIT is never counted as replicated.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureProject } from '../helpers.js';
import { direct, startPrimary, stopAllRedis } from '../redis-setups.js';
import { TriremeClient, NotReplicatedError } from '../../src/jobs/client.js';
import { ReplicationWait } from '../../src/redis/replication.js';
import { connect } from '../../src/redis/connection.js';
import { createApi } from '../../src/server.js';

after(stopAllRedis);

test('waitForReplicas 1: acknowledged once the replica holds the job; refused while the replica is stopped; never counted across a reconnect', { timeout: 120_000 }, async () => {
  const { replicas: [replica], url } = await startPrimary({ replicas: 1 });
  const project = await fixtureProject({}, { redis: { waitForReplicas: 1, waitTimeout: '500ms' } });
  const plainProject = await fixtureProject({}, { prefix: project.config.prefix });
  const kept = new TriremeClient(project, url);
  const plain = new TriremeClient(plainProject, url);
  const onReplica = direct(replica.port);
  const api = await createApi({ project, redisUrl: url });
  const base = await api.listen('127.0.0.1', 0);
  const jobKey = (id: string) => `${project.config.prefix}:work:${id}`;
  try {
    // Acknowledged means on the replica now, not eventually.
    for (let i = 0; i < 20; i++) {
      const { id } = await kept.submit('fx.echo', { value: i });
      assert.equal(await onReplica.exists(jobKey(id)), 1, `job ${i} is on the replica when its submit returns`);
    }
    const many = await kept.submitMany('fx.echo', [{ value: 'a' }, { value: 'b' }]);
    for (const s of many) assert.equal(await onReplica.exists(jobKey(s.id)), 1);
    const group = await kept.submitGroup('fx.echo', [{ value: 1 }, { value: 2 }]);
    assert.equal(await onReplica.exists(jobKey(group.id)), 1, 'a group\'s parent is on the replica');

    // The replica stops taking the stream: the primary alone acknowledges a plain submit; one that asks for a replica waits and is refused.
    replica.pause();
    const started = Date.now();
    const refused = await kept.submit('fx.echo', { value: 'x' }, { idempotencyKey: 'during-pause' }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof NotReplicatedError, String(refused));
    assert.ok(Date.now() - started >= 500, 'it waited redis.waitTimeout');
    assert.match(refused.message, /^job work~k-during-pause is on the Redis primary but not yet known to be on 1 replica\(s\) \(0 of 1 replica\(s\) confirmed it within 500 ms\): a failover now could lose it\. Submit again with the same idempotency key/);
    assert.deepEqual(refused.ids, ['work~k-during-pause']);
    assert.ok(await plain.getJob('work~k-during-pause'), 'the job was written to the primary (it may run)');
    await plain.submit('fx.echo', { value: 'y' });
    await assert.rejects(kept.submitMany('fx.echo', [{ value: 1 }, { value: 2 }]), (e: NotReplicatedError) => e.name === 'NotReplicatedError' && e.ids.length === 2 && /^2 jobs are on the Redis primary/.test(e.message));
    const res = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'fx.echo', payload: {} }) });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_replicated');
    replica.resume();
    // Once it is back, the same submit (same key) is acknowledged: the job is not enqueued twice.
    const again = await kept.submit('fx.echo', { value: 'x' }, { idempotencyKey: 'during-pause' });
    assert.equal(again.id, 'work~k-during-pause');
    assert.equal(await onReplica.exists(jobKey(again.id)), 1);

    // A write, then the connection lost and made again, then WAIT: the new connection wrote nothing, so its WAIT
    // would answer at once with every replica; the write before the reconnect is not counted as replicated.
    const conn = connect(url, 'test-epoch');
    try {
      const wait = new ReplicationWait(conn, 1, 500);
      const token = await wait.before('k');
      await conn.set('k', 'v');
      conn.disconnect(true);
      await new Promise<void>((resolve) => conn.once('ready', () => resolve()));
      const c = await wait.confirm(token);
      assert.equal(c.ok, false);
      assert.match(!c.ok ? c.why : '', /connection to the primary was lost after the write/);
      assert.deepEqual(await wait.confirm(await wait.before('k')), { ok: true }, 'a WAIT on an unbroken connection counts the replica');
    } finally { conn.disconnect(); }
  } finally {
    replica.resume();
    await api.close();
    onReplica.disconnect();
    await kept.close();
    await plain.close();
  }
});
