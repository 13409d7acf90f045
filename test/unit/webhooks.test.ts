/**
 * Webhook delivery against a real HTTP server on loopback: CloudEvents 1.0 in structured mode with a Slack `text`,
 * the HMAC signature, order, retries with backoff on failures worth retrying, none on a refusal, a bounded queue,
 * and `notify()` returning at once whatever the receiver does. Backoff runs on a manual clock; requests are real.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHmac } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import { Webhooks, cloudEvent } from '../../src/control/webhooks.js';
import { notifySchema, type Notice } from '../../src/core/notices.js';
import { silentLogger } from '../../src/system/log.js';
import { waitFor } from '../helpers.js';

interface Received { headers: IncomingMessage['headers']; body: string }

/** A receiver on a free loopback port; `answer` decides each response (status, or 'hang'). */
async function receiver(answer: (n: number) => number | 'hang' = () => 200) {
  const got: Received[] = [];
  const hanging: ServerResponse[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      const a = answer(n++);
      if (a === 'hang') { hanging.push(res); return; }
      res.writeHead(a).end(a === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`, got,
    close: () => new Promise<void>((r) => { for (const h of hanging) h.destroy(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

const scaled = (from: number, to: number, at = Date.UTC(2024, 0, 1)): Notice => ({ kind: 'pool.scaled', at, pool: 'heavy', from, to, reason: `heavy: load 3 at 1/slot -> 3, ${from} -> ${to}`, policy: 'target', manual: false });

function webhooks(hooks: unknown[], clock = new ManualClock(0), extra: Record<string, unknown> = {}) {
  const outcomes: string[] = [];
  const w = new Webhooks({ config: notifySchema.parse({ webhooks: hooks, ...extra }), clock, logger: silentLogger, source: '/trireme/t', onOutcome: (name, outcome, kind) => outcomes.push(`${name} ${outcome} ${kind}`) });
  return { w, clock, outcomes };
}

test('a notice arrives as a CloudEvent in structured mode, with a Slack text and a valid HMAC-SHA256 signature', async () => {
  const r = await receiver();
  const secret = 'a-long-enough-secret';
  const { w, outcomes } = webhooks([{ url: r.url, secret, name: 'ops' }]);
  w.notify(scaled(0, 3));
  await waitFor(() => outcomes.length === 1, 10_000, 'the delivery');
  assert.deepEqual(outcomes, ['ops delivered pool.scaled']);
  const [{ headers, body }] = r.got;
  assert.equal(headers['content-type'], 'application/cloudevents+json; charset=utf-8');
  assert.equal(headers['x-trireme-signature-256'], `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const e = JSON.parse(body);
  assert.equal(e.specversion, '1.0');
  assert.equal(e.type, 'dev.trireme.pool.scaled');
  assert.equal(e.source, '/trireme/t');
  assert.equal(e.subject, 'heavy');
  assert.equal(e.time, '2024-01-01T00:00:00.000Z');
  assert.match(e.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(e.data, { pool: 'heavy', from: 0, to: 3, reason: 'heavy: load 3 at 1/slot -> 3, 0 -> 3', policy: 'target', manual: false });
  assert.equal(e.text, 'Trireme: pool heavy scaled up 0 -> 3: heavy: load 3 at 1/slot -> 3, 0 -> 3');
  await w.close();
  await r.close();
});

test('without a secret there is no signature; `application/json` for receivers such as Slack; events filter kinds', async () => {
  const r = await receiver();
  const { w, outcomes } = webhooks([{ url: r.url, contentType: 'application/json', events: ['pool.max_reached'] }]);
  w.notify(scaled(0, 3));
  w.notify({ kind: 'pool.max_reached', at: 0, pool: 'heavy', max: 3, wanted: 9, reason: 'r' });
  await waitFor(() => outcomes.length === 1, 10_000, 'the delivery');
  assert.deepEqual(outcomes, ['#0 delivered pool.max_reached'], 'pool.scaled is not among its events');
  assert.equal(r.got[0].headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(r.got[0].headers['x-trireme-signature-256'], undefined);
  assert.equal(JSON.parse(r.got[0].body).text, 'Trireme: pool heavy is at its max of 3 replica(s) and its load asks for 9: r');
  await w.close();
  await r.close();
});

test('a receiver that fails is tried again with growing waits until it answers; notices keep their order', async () => {
  // 503, 503, then 200 for everything.
  const r = await receiver((n) => (n < 2 ? 503 : 200));
  const { w, clock, outcomes } = webhooks([{ url: r.url, retries: 5 }]);
  w.notify(scaled(0, 1));
  w.notify(scaled(1, 2));
  await waitFor(() => r.got.length === 1, 10_000, 'the first try');
  // Nothing is tried again before its backoff (1 s, jittered 0.8-1.2x) has passed on the clock.
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.got.length, 1);
  clock.advance(1_250);
  await waitFor(() => r.got.length === 2, 10_000, 'the second try');
  clock.advance(2_500);
  await waitFor(() => outcomes.length === 2, 10_000, 'both delivered');
  assert.deepEqual(outcomes, ['#0 delivered pool.scaled', '#0 delivered pool.scaled']);
  const tos = r.got.map((g) => JSON.parse(g.body).data.to);
  assert.deepEqual(tos, [1, 1, 1, 2], 'the first notice three times, then the second: in order');
  await w.close();
  await r.close();
});

test('after its retries a notice is dropped and counted; a refusal (4xx) is not tried again', async () => {
  const r = await receiver((n) => (n === 0 ? 500 : n === 1 ? 500 : 400));
  const { w, clock, outcomes } = webhooks([{ url: r.url, retries: 1 }]);
  w.notify(scaled(0, 1));
  await waitFor(() => r.got.length === 1, 10_000, 'the first try');
  clock.advance(1_250);
  await waitFor(() => outcomes.length === 1, 10_000, 'the drop');
  assert.deepEqual(outcomes, ['#0 dropped pool.scaled']);
  assert.equal(r.got.length, 2, 'one try and one retry');
  w.notify(scaled(1, 2));
  await waitFor(() => outcomes.length === 2, 10_000, 'the refusal');
  assert.deepEqual(outcomes, ['#0 dropped pool.scaled', '#0 dropped pool.scaled']);
  assert.equal(r.got.length, 3, 'a 400 is final: no retry');
  await w.close();
  await r.close();
});

test('a receiver that hangs costs notify() nothing; its queue is bounded, the oldest dropped first', async () => {
  const r = await receiver(() => 'hang');
  const { w, outcomes } = webhooks([{ url: r.url, timeout: '60s' }], new ManualClock(0), { queueLimit: 3 });
  const began = performance.now();
  for (let i = 0; i < 10; i++) w.notify(scaled(i, i + 1));
  const took = performance.now() - began;
  // Ten notices queued in well under a pass: notify() never waits for the network.
  assert.ok(took < 500, `notify took ${took} ms`);
  await waitFor(() => r.got.length === 1, 10_000, 'the first request to hang');
  // The one in flight plus 3 queued are kept; 6 were dropped on arrival of newer ones.
  assert.equal(outcomes.filter((o) => o.includes('dropped')).length, 6);
  assert.deepEqual(w.pending(), { '#0': 3 });
  await w.close(0);
  await r.close();
});

test('the CloudEvent of each kind names its subject and says what happened', () => {
  const e = cloudEvent({ kind: 'controller.takeover', at: 0, controller: 'b', previous: 'a' }, '/trireme/x');
  assert.equal(e.type, 'dev.trireme.controller.takeover');
  assert.equal(e.subject, undefined);
  assert.equal(e.text, 'Trireme: controller b took the lease over from a and acts from now on');
  const f = cloudEvent({ kind: 'replica.start_failed', at: 0, pool: 'gpu', asked: 2, started: 0, error: 'crash-loop: 3 replica(s) exited at start' }, '/trireme/x');
  assert.equal(f.subject, 'gpu');
  assert.equal(f.text, 'Trireme: pool gpu could not start 2 of 2 replica(s): crash-loop: 3 replica(s) exited at start');
  const g = cloudEvent({ kind: 'replica.drain_timeout', at: 0, pool: 'gpu', replica: 'gpu-1', handedBack: 2, graceMs: 30_000 }, '/trireme/x');
  assert.equal(g.text, 'Trireme: replica gpu-1 of pool gpu ran out of its 30s drain grace; 2 running job(s) went back to their queue');
});
