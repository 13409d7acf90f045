/**
 * The wire shapes Celery's workers speak through kombu, for the broker sources (celery-redis.ts, celery-amqp.ts):
 * event bodies (a `task.multi` body is a list of events, which a worker buffers and sends together), remote-control
 * requests (`celery inspect` and `celery control`: one message to the `celery.pidbox` fanout exchange, replies to
 * `reply.celery.pidbox` with the asker's routing key) and, on Redis, kombu's envelope around every message. JSON
 * only: Celery's default event and control serializer; a deployment that set another is named in docs/celery.md.
 */
import { randomUUID } from 'node:crypto';
import type { CeleryEvent } from './celery-workers.js';

export const EVENT_EXCHANGE = 'celeryev';
export const CONTROL_EXCHANGE = 'celery.pidbox';
export const REPLY_EXCHANGE = 'reply.celery.pidbox';

/** Events in a decoded body: one event, or the list a `task.multi` message carries. */
export function eventsOf(body: unknown): CeleryEvent[] {
  const list = Array.isArray(body) ? body : [body];
  return list.filter((e): e is CeleryEvent => !!e && typeof e === 'object' && typeof (e as CeleryEvent).type === 'string');
}

/** A remote-control request: who sends it, to whom (every worker, or `destination`), where replies go. */
export interface ControlRequest { method: string; arguments: Record<string, unknown>; destination: string[] | null; ticket: string; replyTo?: string }

export function controlRequest(method: string, args: Record<string, unknown>, destination: string[] | undefined, replyTo: string | undefined): ControlRequest {
  return { method, arguments: args, destination: destination ?? null, ticket: randomUUID(), ...(replyTo ? { replyTo } : {}) };
}

/** The body a worker's mailbox reads (kombu.pidbox Mailbox._publish). */
export function controlBody(r: ControlRequest): Record<string, unknown> {
  return {
    method: r.method, arguments: r.arguments, destination: r.destination, pattern: null, matcher: null, ticket: r.ticket,
    ...(r.replyTo ? { reply_to: { exchange: REPLY_EXCHANGE, routing_key: r.replyTo } } : {}),
  };
}

/** Headers a control request carries: a worker drops one whose `expires` (seconds since the epoch) has passed. */
export const controlHeaders = (timeoutMs: number): Record<string, unknown> => ({ clock: 1, expires: (Date.now() + timeoutMs) / 1000 });

/** A reply's body, `{ node: answer }`, when it answers `ticket`. */
export function replyOf(body: unknown, headers: Record<string, unknown> | undefined, ticket: string): Record<string, unknown> | undefined {
  if (headers?.ticket !== undefined && headers.ticket !== ticket) return undefined;
  return body && typeof body === 'object' && !Array.isArray(body) ? body as Record<string, unknown> : undefined;
}

/** kombu's envelope around a message on the Redis transport (kombu/transport/virtual `Channel.prepare_message`). */
export interface Envelope {
  body: string;
  'content-encoding': string;
  'content-type': string;
  headers: Record<string, unknown>;
  properties: { body_encoding?: string; delivery_info?: { exchange: string; routing_key: string }; delivery_tag?: string; delivery_mode?: number; priority?: number };
}

/** The envelope's body, decoded (base64, then JSON); undefined when it is not JSON. */
export function openEnvelope(text: string | Buffer): { body: unknown; headers: Record<string, unknown> } | undefined {
  try {
    const env = JSON.parse(text.toString()) as Envelope;
    const raw = env.properties?.body_encoding === 'base64' ? Buffer.from(env.body, 'base64').toString('utf8') : env.body;
    if (!/json/.test(env['content-type'] ?? '')) return undefined;
    return { body: JSON.parse(raw), headers: env.headers ?? {} };
  } catch {
    return undefined;
  }
}

/** A JSON body in kombu's envelope, as a Redis publisher writes it. */
export function sealEnvelope(body: unknown, exchange: string, routingKey: string, headers: Record<string, unknown>): string {
  const env: Envelope = {
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers,
    properties: { delivery_mode: 1, delivery_info: { exchange, routing_key: routingKey }, priority: 0, body_encoding: 'base64', delivery_tag: randomUUID() },
  };
  return JSON.stringify(env);
}
