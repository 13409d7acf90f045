/**
 * Notifications end to end: a real serve with two webhooks on loopback. The one with a secret gets the takeover, the
 * scale-up, max-reached and scale-down in order, each a CloudEvent with a valid signature; the other hangs every
 * request for 60 s, and the control loop does not notice: its decisions keep their 2 s cadence (read from the
 * decisions it records) while that receiver holds the first notice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, waitFor, ROOT, type TestRedis } from '../helpers.js';
import { ControlStore } from '../../src/stores/control-store.js';
import { trireme, reapAll, run } from './procs.js';

const SECRET = 'the-receivers-own-secret';
let redis: TestRedis;
let conn: Redis;
const servers: Server[] = [];
const held: ServerResponse[] = [];

/** A receiver on loopback; `hang`: holds each request 60 s before it answers. */
async function receiver(hang: boolean) {
  const got: { at: number; signature?: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ at: Date.now(), signature: req.headers['x-trireme-signature-256'] as string | undefined, body });
      if (!hang) { res.writeHead(204).end(); return; }
      held.push(res);
      setTimeout(() => res.writeHead(204).end(), 60_000).unref();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, got };
}

describe('notifications', () => {
  before(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url);
  });
  after(async () => {
    await reapAll();
    for (const r of held) r.destroy();
    for (const s of servers) { s.closeAllConnections(); s.close(); }
    conn.disconnect();
    await redis.stop();
  });

  test('scale-up, max-reached and scale-down arrive in order, signed; a receiver that hangs 60 s costs the loop nothing', async () => {
    const good = await receiver(false);
    const stuck = await receiver(true);
    const dir = mkdtempSync(join(tmpdir(), 'trireme-notify-'));
    const config = join(dir, 'trireme.yml');
    writeFileSync(config, [
      `tasks: [${JSON.stringify(join(ROOT, 'test/fixtures/ops-tasks.ts'))}]`,
      'defaultQueue: burst',
      'controller: { interval: 2s, leaseTtl: 6s }',
      'capacity: { overcommit: 8 }',
      'api: { port: 0 }',
      'pools:',
      '  burst: { queues: [burst], drainGrace: 5s, standby: false, scaling: { policy: target, min: 0, max: 2, cooldownDown: 0s, stabilization: 0s, idleShutdown: 1s, keepWarm: false } }',
      'notify:',
      '  webhooks:',
      `    - { url: ${JSON.stringify(good.url)}, secret: ${SECRET}, name: good }`,
      `    - { url: ${JSON.stringify(stuck.url)}, name: stuck, timeout: 60s, retries: 0 }`,
    ].join('\n'));
    const serve = trireme(['-c', config, 'serve', '--grace', '5s'], { TRIREME_REDIS_URL: redis.url, TRIREME_LOG_FORMAT: 'json' });
    const base = await waitFor(() => /dashboard and API at (http:\/\/[^\s/]+)\//.exec(serve.output())?.[1], 60_000, 'serve to listen');
    // Every decision the loop records, by its time, from now until the end.
    const store = new ControlStore(conn, 'trireme');
    const decided = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const d = (await store.decisions().catch(() => ({})) as Record<string, { at: number }>).burst;
        if (d) decided.add(d.at);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // The takeover notice is the first thing the stuck receiver gets, and holds.
    await waitFor(() => stuck.got.length >= 1, 30_000, 'the stuck receiver to hold a request');
    const heldFrom = Date.now();
    const jobs = join(dir, 'jobs.ndjson');
    writeFileSync(jobs, Array.from({ length: 4 }, () => JSON.stringify({ ms: 1500, file: join(dir, 'starts.log') })).join('\n'));
    assert.equal((await run(['-c', config, 'submit', 'ops.call', '--file', jobs], { TRIREME_REDIS_URL: redis.url })).code, 0);
    // Up to its max of 2 (the load asks for 4), the jobs run, then idle and back to zero.
    const types = () => good.got.map((g) => JSON.parse(g.body).type as string);
    const events = () => good.got.map((g) => JSON.parse(g.body));
    await waitFor(() => events().some((e) => e.type === 'dev.trireme.pool.scaled' && e.data.to === 0), 90_000, 'the scale-up and the scale-down to zero');
    // Watch the loop for 20 s of the receiver's hang in all.
    await waitFor(() => Date.now() > heldFrom + 20_000, 30_000, '20 s of the hang');
    const heldFor = Date.now() - heldFrom;
    watching = false;
    await watcher;
    // Takeover, up, max reached, then down (as the jobs finish, one replica at a time or at once) to zero.
    assert.deepEqual(types().slice(0, 3), ['dev.trireme.controller.takeover', 'dev.trireme.pool.scaled', 'dev.trireme.pool.max_reached']);
    // (Up to the first time at zero: the target policy's decaying arrival rate may start one replica again later.)
    const downs = events().slice(3, events().findIndex((e) => e.type === 'dev.trireme.pool.scaled' && e.data.to === 0) + 1);
    assert.ok(downs.length >= 1 && downs.every((e) => e.type === 'dev.trireme.pool.scaled' && e.data.to < e.data.from), JSON.stringify(events().map((e) => e.data)));
    const others = events().slice(3 + downs.length);
    assert.ok(others.every((e) => e.type === 'dev.trireme.pool.scaled'), 'nothing but scale events after: max reached is not said again');
    assert.equal(downs.at(-1).data.to, 0);
    for (const g of good.got) {
      const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(g.body).digest('hex')}`);
      assert.ok(g.signature && timingSafeEqual(expected, Buffer.from(g.signature)), `a valid signature on ${g.body}`);
    }
    const [, up, max, down] = events();
    assert.deepEqual({ pool: up.data.pool, from: up.data.from, to: up.data.to, policy: up.data.policy, subject: up.subject }, { pool: 'burst', from: 0, to: 2, policy: 'target', subject: 'burst' });
    assert.match(up.data.reason, /^burst: load 4 at 1\/slot -> 4, max 2, 0 -> 2$/);
    assert.equal(up.text, `Trireme: pool burst scaled up 0 -> 2: ${up.data.reason}`);
    assert.deepEqual(max.data, { pool: 'burst', max: 2, wanted: 4, reason: up.data.reason });
    assert.equal(down.data.from, 2);
    assert.ok(Date.parse(up.time) <= Date.parse(max.time) && Date.parse(max.time) < Date.parse(down.time));
    // The stuck receiver still holds its first request (60 s), and gets nothing else meanwhile: its queue waits.
    assert.equal(stuck.got.length, 1);
    assert.ok(heldFor < 60_000, 'measured while the receiver hung');
    // The loop's cadence meanwhile, from the decisions it recorded: every 2 s, never held up by the receiver.
    const times = [...decided].sort((a, b) => a - b).filter((t) => t >= heldFrom - 2_000);
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    console.log(`# ${times.length} decisions in ${Math.round(heldFor / 1000)} s while a receiver hung: gaps ${Math.min(...gaps)}-${Math.max(...gaps)} ms, mean ${Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length)} ms`);
    assert.ok(times.length >= heldFor / 2_000 / 2, `${times.length} decisions in ${heldFor} ms`);
    // A loop blocked on the receiver would show a 60 s gap; the bound is generous for a busy machine.
    assert.ok(Math.max(...gaps) < 10_000, `the longest gap between decisions was ${Math.max(...gaps)} ms`);
    // /metrics counts what was delivered.
    await waitFor(async () => new RegExp(`^trireme_notifications_total\\{webhook="good",outcome="delivered"\\} ${good.got.length}$`, 'm').test(await (await fetch(`${base}/metrics`)).text()), 10_000, 'the deliveries counted');
    serve.child.kill('SIGTERM');
    assert.equal((await serve.exited).code, 0);
  });
});
