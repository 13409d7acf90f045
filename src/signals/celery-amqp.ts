/**
 * Celery on RabbitMQ (AMQP 0-9-1), through amqplib:
 *  - a queue's depth is what a passive declare answers: messages ready and consumers. A priority queue
 *    (x-max-priority) is one queue, so its priorities are counted with it. Messages delivered to a worker and not
 *    acknowledged yet (prefetched, or running with acks_late) are not in that count, and AMQP does not tell them:
 *    the workers' events do (task-received, task-started), which is why a Celery pool on RabbitMQ needs its events;
 *  - events arrive on a queue of Trireme's own (exclusive, deleted with its connection, messages kept 10 s) bound
 *    to the `celeryev` topic exchange with `#`, as Flower's receiver binds;
 *  - remote control is a message to the `celery.pidbox` fanout exchange; replies come to a queue of Trireme's own
 *    bound to `reply.celery.pidbox` with the asker's routing key, an exchange declared as kombu declares it.
 * The connection recovers by itself (amqplib's recovery): while it is away a depth read fails and the controller holds
 * the pool; the event queue is bound again once it is back.
 */
import { randomUUID } from 'node:crypto';
import { connect, type Channel, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import type { BrokerDepth, CeleryEvent } from './celery-workers.js';
import type { CeleryBroker, ControlOptions } from './celery-broker.js';
import { CONTROL_EXCHANGE, controlBody, controlHeaders, controlRequest, EVENT_EXCHANGE, eventsOf, REPLY_EXCHANGE, replyOf } from './kombu.js';

const parseJson = (content: Buffer): unknown => { try { return JSON.parse(content.toString('utf8')); } catch { return undefined; } };

export class CeleryAmqpBroker implements CeleryBroker {
  /** A cancelled AMQP consumer gets nothing more; what it holds the broker requeues when its channel closes. */
  readonly settleMs = 0;
  private model?: Promise<RecoveringChannelModel>;
  private channel?: Promise<Channel>;
  private onEvent?: (e: CeleryEvent) => void;
  /** The connection now (the recovering model makes a new one after each loss), and whether its event queue is bound. */
  private current?: ChannelModel;
  private bound = false;

  // pyamqp:// is kombu's name for the same protocol.
  constructor(private readonly url: string) {}

  private connection(): Promise<RecoveringChannelModel> {
    this.model ??= connect(this.url.replace(/^pyamqp:/i, 'amqp:'), {
      recovery: { initialDelay: 250, maxDelay: 5_000, waitForConnect: false, setup: (m: ChannelModel) => this.onConnect(m) },
    }).then((m) => { m.on('error', () => {}); return m; });
    return this.model;
  }

  /** A command channel, kept until the broker closes it (a passive declare of a missing queue does). */
  private async command(): Promise<Channel> {
    if (!this.channel) {
      this.channel = (await this.connection()).createChannel();
      this.channel.then((ch) => {
        ch.on('error', () => {});
        ch.on('close', () => { this.channel = undefined; });
      }, () => { this.channel = undefined; });
    }
    return this.channel;
  }

  async depths(queues: string[]): Promise<Map<string, BrokerDepth>> {
    const out = new Map<string, BrokerDepth>();
    for (const q of queues) {
      const ch = await this.command();
      try {
        const r = await ch.checkQueue(q);
        out.set(q, { ready: r.messageCount });
      } catch (err) {
        // 404: nothing declared it yet (no worker has started, no task was sent): empty.
        if ((err as { code?: number }).code !== 404) throw err;
        out.set(q, { ready: 0 });
      }
    }
    return out;
  }

  async subscribe(onEvent: (e: CeleryEvent) => void): Promise<void> {
    this.onEvent = onEvent;
    await this.connection();
    // A connection made before (a depth read) ran its setup without a subscriber: bind on it now.
    if (this.current) await this.bindEvents(this.current);
  }

  /** Each (re)connection: a fresh command channel, and Trireme's event queue bound once on it. */
  private async onConnect(m: ChannelModel): Promise<void> {
    this.current = m;
    this.bound = false;
    this.channel = undefined;
    if (this.onEvent) await this.bindEvents(m);
  }

  /** Trireme's event queue on this connection, bound to every event; once per connection. */
  private async bindEvents(m: ChannelModel): Promise<void> {
    if (this.bound || !this.onEvent) return;
    this.bound = true;
    const deliver = this.onEvent;
    try {
      const ch = await m.createChannel();
      ch.on('error', () => {});
      await ch.assertExchange(EVENT_EXCHANGE, 'topic', { durable: true, autoDelete: false });
      const { queue } = await ch.assertQueue(`trireme.celeryev.${randomUUID()}`, { exclusive: true, autoDelete: true, arguments: { 'x-message-ttl': 10_000 } });
      await ch.bindQueue(queue, EVENT_EXCHANGE, '#');
      await ch.consume(queue, (msg) => {
        if (msg) for (const e of eventsOf(parseJson(msg.content))) deliver(e);
      }, { noAck: true });
    } catch (err) {
      this.bound = false;
      throw err;
    }
  }

  async control(method: string, args: Record<string, unknown>, o: ControlOptions): Promise<Map<string, unknown>> {
    const replies = new Map<string, unknown>();
    const ch = await (await this.connection()).createChannel();
    ch.on('error', () => {});
    try {
      // No worker ever started: nobody declared the mailbox exchange, and nobody would answer.
      try { await ch.checkExchange(CONTROL_EXCHANGE); } catch { return replies; }
      const oid = randomUUID();
      const req = controlRequest(method, args, o.destination, oid);
      const cmd = await (await this.connection()).createChannel();
      cmd.on('error', () => {});
      // As kombu declares it (kombu/pidbox.py): a declare with other flags would be refused.
      await cmd.assertExchange(REPLY_EXCHANGE, 'direct', { durable: false, autoDelete: false });
      const { queue } = await cmd.assertQueue(`${oid}.${REPLY_EXCHANGE}`, { exclusive: true, autoDelete: true });
      await cmd.bindQueue(queue, REPLY_EXCHANGE, oid);
      const expected = o.destination?.length;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, o.timeoutMs);
        void cmd.consume(queue, (msg) => {
          const reply = msg && replyOf(parseJson(msg.content), msg.properties.headers, req.ticket);
          if (reply) for (const [node, answer] of Object.entries(reply)) replies.set(node, answer);
          if (expected !== undefined && replies.size >= expected) { clearTimeout(timer); done(); }
        }, { noAck: true }).then(() => {
          ch.publish(CONTROL_EXCHANGE, '', Buffer.from(JSON.stringify(controlBody(req))), {
            contentType: 'application/json', contentEncoding: 'utf-8', headers: controlHeaders(o.timeoutMs), deliveryMode: 1,
          });
        }, () => { clearTimeout(timer); done(); });
      });
      await cmd.close().catch(() => {});
    } finally {
      await ch.close().catch(() => {});
    }
    return replies;
  }

  async close(): Promise<void> {
    const m = this.model;
    this.model = undefined;
    this.channel = undefined;
    this.current = undefined;
    if (m) await (await m.catch(() => undefined))?.close().catch(() => {});
  }
}
