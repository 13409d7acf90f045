/**
 * Celery on a Redis broker, as kombu's Redis transport lays it out:
 *  - a queue is a list named after it, plus one list per priority step (`QUEUE\x06\x16N`, N of 3, 6, 9 by default,
 *    of 1..9 with custom priority_steps): all are counted, or prioritised work reads as an empty queue;
 *  - a message a worker took but has not acknowledged (prefetched, or running with acks_late) leaves the list for the
 *    `unacked` hash (`unacked_index` holds when), `[message, exchange, routing_key]` by delivery tag: counted per queue,
 *    so that prefetched work is not read as idle and the work of a worker that died is not forgotten;
 *  - events are published to `/{db}.celeryev/<routing key>` (fanout_prefix and fanout_patterns, kombu's defaults);
 *  - remote control goes to `/{db}.celery.pidbox`, and replies are pushed to a list bound to `reply.celery.pidbox`
 *    with the asker's routing key (a member of the `_kombu.binding.reply.celery.pidbox` set).
 * A dead worker's unacknowledged messages would wait for visibility_timeout (an hour by default) and then for a
 * worker's restore pass (at its start, then every 100 s): Trireme, which saw the worker die, hands them back at once,
 * the way kombu's restore_by_tag does (marked redelivered, pushed where the next pop takes them).
 */
import { randomUUID } from 'node:crypto';
import { connect, type Redis } from '../redis/connection.js';
import type { BrokerDepth, CeleryEvent } from './celery-workers.js';
import type { CeleryBroker, ControlOptions } from './celery-broker.js';
import { CONTROL_EXCHANGE, controlBody, controlHeaders, controlRequest, EVENT_EXCHANGE, eventsOf, openEnvelope, REPLY_EXCHANGE, replyOf, sealEnvelope } from './kombu.js';

/** kombu's separator between a queue's name and its priority step, and between a binding's fields. */
const SEP = '\x06\x16';
/** Priority steps a queue's lists may have: kombu's default [0, 3, 6, 9] or any custom ones within Celery's 0..9. */
const STEPS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** Atomically, as long as the message is still unacknowledged (a worker may acknowledge it meanwhile): out of the
 * unacked hash and index, onto the right of each queue it was routed to (the next BRPOP takes it). */
const HAND_BACK = `
if not redis.call('HEXISTS', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[2]) end
return 1`;

export class CeleryRedisBroker implements CeleryBroker {
  /** kombu polls with BRPOP ... 1 (a second): one in flight when a worker cancels its consumer still delivers. */
  readonly settleMs = 1_500;
  private readonly redis: Redis;
  private sub?: Redis;
  private blocking?: Redis;
  private readonly db: number;
  /** Remote-control calls share one blocking connection, one at a time. */
  private controlling: Promise<unknown> = Promise.resolve();

  constructor(private readonly url: string) {
    this.redis = connect(url, 'trireme-celery', { failFast: true });
    const path = new URL(url).pathname.slice(1);
    this.db = path ? Number(path) : 0;
  }

  async depths(queues: string[]): Promise<Map<string, BrokerDepth>> {
    const p = this.redis.pipeline();
    for (const q of queues) for (const key of [q, ...STEPS.map((n) => `${q}${SEP}${n}`)]) p.llen(key);
    p.hvals('unacked');
    const res = await p.exec();
    if (!res) throw new Error('no reply from the Celery broker');
    for (const [err] of res) if (err) throw err;
    const out = new Map<string, BrokerDepth>(queues.map((q) => [q, { ready: 0, unacked: 0 }]));
    queues.forEach((q, i) => {
      for (let j = 0; j <= STEPS.length; j++) out.get(q)!.ready += Number(res[i * (STEPS.length + 1) + j][1]);
    });
    // Each entry is [message, exchange, routing key]: Celery's queues are bound by their name (exchange and routing
    // key both the queue's, or the default exchange); other routes are found in kombu's binding sets.
    const bindings = new Map<string, Promise<string[]>>();
    for (const v of res[res.length - 1][1] as string[]) {
      let exchange: string; let key: string;
      try { [, exchange, key] = JSON.parse(v) as [unknown, string, string]; } catch { continue; }
      let queue = out.has(key) ? key : undefined;
      if (!queue && exchange) {
        if (!bindings.has(exchange)) bindings.set(exchange, this.redis.smembers(`_kombu.binding.${exchange}`));
        queue = (await bindings.get(exchange)!).map((b) => b.split(SEP)).find(([rk, , q]) => rk === key && out.has(q))?.[2];
      }
      if (queue) out.get(queue)!.unacked! += 1;
    }
    return out;
  }

  async handBack(taskIds: string[]): Promise<number> {
    const wanted = new Set(taskIds);
    let n = 0;
    for (const [tag, v] of Object.entries(await this.redis.hgetall('unacked'))) {
      let payload: { headers?: Record<string, unknown>; properties?: { delivery_info?: Record<string, unknown> } }; let exchange: string; let key: string;
      try { [payload, exchange, key] = JSON.parse(v) as [typeof payload, string, string]; } catch { continue; }
      if (!wanted.has(String(payload?.headers?.id))) continue;
      const queues = exchange ? (await this.redis.smembers(`_kombu.binding.${exchange}`)).map((b) => b.split(SEP)).filter(([rk]) => rk === key).map(([, , q]) => q) : [key];
      if (queues.length === 0) continue;
      if (payload.headers) payload.headers.redelivered = true;
      if (payload.properties?.delivery_info) payload.properties.delivery_info.redelivered = true;
      n += Number(await this.redis.eval(HAND_BACK, 2 + queues.length, 'unacked', 'unacked_index', ...queues, tag, JSON.stringify(payload)));
    }
    return n;
  }

  async subscribe(onEvent: (e: CeleryEvent) => void): Promise<void> {
    this.sub = connect(this.url, 'trireme-celery-events');
    this.sub.on('pmessageBuffer', (_pattern: Buffer, _channel: Buffer, data: Buffer) => {
      const opened = openEnvelope(data);
      if (opened) for (const e of eventsOf(opened.body)) onEvent(e);
    });
    await this.sub.psubscribe(`/${this.db}.${EVENT_EXCHANGE}/*`);
  }

  control(method: string, args: Record<string, unknown>, o: ControlOptions): Promise<Map<string, unknown>> {
    const run = this.controlling.then(() => this.controlNow(method, args, o));
    this.controlling = run.catch(() => {});
    return run;
  }

  private async controlNow(method: string, args: Record<string, unknown>, o: ControlOptions): Promise<Map<string, unknown>> {
    const oid = randomUUID();
    const replyQueue = `${oid}.${REPLY_EXCHANGE}`;
    const binding = `${oid}${SEP}${SEP}${replyQueue}`;
    const req = controlRequest(method, args, o.destination, oid);
    const replies = new Map<string, unknown>();
    this.blocking ??= connect(this.url, 'trireme-celery-control');
    await this.redis.sadd(`_kombu.binding.${REPLY_EXCHANGE}`, binding);
    try {
      await this.redis.publish(`/${this.db}.${CONTROL_EXCHANGE}`, sealEnvelope(controlBody(req), CONTROL_EXCHANGE, '', controlHeaders(o.timeoutMs)));
      const until = Date.now() + o.timeoutMs;
      const expected = o.destination?.length;
      while (Date.now() < until && (expected === undefined || replies.size < expected)) {
        const got = await this.blocking.brpop(replyQueue, Math.max(0.05, (until - Date.now()) / 1000));
        const opened = got && openEnvelope(got[1]);
        const reply = opened && replyOf(opened.body, opened.headers, req.ticket);
        if (reply) for (const [node, answer] of Object.entries(reply)) replies.set(node, answer);
      }
    } finally {
      await this.redis.multi().srem(`_kombu.binding.${REPLY_EXCHANGE}`, binding).del(replyQueue).exec().catch(() => {});
    }
    return replies;
  }

  async close(): Promise<void> {
    for (const r of [this.sub, this.blocking, this.redis]) r?.disconnect();
  }
}
