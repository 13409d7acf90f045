/**
 * Notices: what the controller tells the outside world as it acts (a pool scaled, hit its max, could not start a
 * replica; a replica's drain ran out of grace; a controller took the lease over), and the `notify:` config that sends
 * them to webhooks as CloudEvents (control/webhooks.ts delivers them). Types and the schema only: pure.
 */
import { z } from 'zod';
import { parseDuration } from './units.js';

/** Every kind of notice, by the name `notify.webhooks[].events` takes; its CloudEvents type is `dev.trireme.<name>`. */
export const NOTICE_KINDS = ['pool.scaled', 'pool.max_reached', 'replica.start_failed', 'replica.drain_timeout', 'controller.takeover'] as const;
export type NoticeKind = typeof NOTICE_KINDS[number];

const TYPE_PREFIX = 'dev.trireme.';

/** The CloudEvents `type` of a notice kind. */
export const cloudEventType = (kind: NoticeKind): string => `${TYPE_PREFIX}${kind}`;

export type Notice =
  /** A scale event carried out: `from` -> `to` replicas, with the decision's reason and the pool's policy. */
  | { kind: 'pool.scaled'; at: number; pool: string; from: number; to: number; reason: string; policy: string; manual: boolean }
  /** The autoscaler wants more than the pool's max: the pool is at max and its load asks for `wanted`. */
  | { kind: 'pool.max_reached'; at: number; pool: string; max: number; wanted: number; reason: string }
  /** The driver could not start what the plan asked (an error, or starts held back in a crash loop). */
  | { kind: 'replica.start_failed'; at: number; pool: string; asked: number; started: number; error: string }
  /** A replica's drain grace ran out: its running jobs went back to their queues. */
  | { kind: 'replica.drain_timeout'; at: number; pool: string; replica: string; handedBack: number; graceMs: number }
  /** A controller took the lease: it acts from now on (`previous`: the last one known to have held it). */
  | { kind: 'controller.takeover'; at: number; controller: string; previous?: string };

/** A line for people (and a Slack message): what happened, in one sentence. */
export function noticeText(n: Notice): string {
  switch (n.kind) {
    case 'pool.scaled': return `Trireme: pool ${n.pool} scaled ${n.to > n.from ? 'up' : 'down'} ${n.from} -> ${n.to}${n.manual ? ' (manual)' : ''}: ${n.reason}`;
    case 'pool.max_reached': return `Trireme: pool ${n.pool} is at its max of ${n.max} replica(s) and its load asks for ${n.wanted}: ${n.reason}`;
    case 'replica.start_failed': return `Trireme: pool ${n.pool} could not start ${n.asked - n.started} of ${n.asked} replica(s): ${n.error}`;
    case 'replica.drain_timeout': return `Trireme: replica ${n.replica} of pool ${n.pool} ran out of its ${Math.round(n.graceMs / 1000)}s drain grace; ${n.handedBack} running job(s) went back to their queue`;
    case 'controller.takeover': return `Trireme: controller ${n.controller} took the lease${n.previous ? ` over from ${n.previous}` : ''} and acts from now on`;
  }
}

const duration = (min: number) => z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    const ms = parseDuration(v);
    if (ms < min) ctx.addIssue({ code: 'custom', message: `must be at least ${min} ms` });
    return ms;
  } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); return z.NEVER; }
});

const webhook = z.strictObject({
  /** Where to POST each notice (http or https). A Slack incoming webhook's URL works as is. */
  url: z.string().superRefine((u, ctx) => {
    let url: URL | undefined;
    try { url = new URL(u); } catch { /* below */ }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) ctx.addIssue({ code: 'custom', message: `"${u}" is not an http(s) URL; write e.g. https://hooks.example.com/trireme` });
  }),
  /** With a secret, each delivery carries `X-Trireme-Signature-256: sha256=<HMAC-SHA256 of the body>`. */
  secret: z.string().min(16, 'use a secret of at least 16 characters (e.g. openssl rand -hex 24)').optional(),
  /** The kinds to send (all when left out), by name (`pool.scaled`) or by CloudEvents type (`dev.trireme.pool.scaled`). */
  events: z.array(z.string().transform((e) => (e.startsWith(TYPE_PREFIX) ? e.slice(TYPE_PREFIX.length) : e))
    .pipe(z.enum(NOTICE_KINDS, { error: `use one of: ${NOTICE_KINDS.join(', ')} (or their CloudEvents types, ${TYPE_PREFIX}pool.scaled, ...)` })))
    .min(1, 'name at least one event, or leave events out for all').optional(),
  /** How the webhook is named in /metrics and logs (its URL may hold a secret); `#<index>` when left out. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use up to 64 letters, digits, ".", "_" or "-"').optional(),
  /** How long one delivery may take before it counts as failed. */
  timeout: duration(100).default(10_000),
  /** Deliveries tried after the first fails (with exponential backoff from 1 s); then the notice is dropped and counted. */
  retries: z.number().int().min(0).max(20).default(5),
  /**
   * The body is a CloudEvent in structured mode either way; `application/json` is for receivers that take nothing
   * else, such as Slack's incoming webhooks (which read its `text` field).
   */
  contentType: z.enum(['application/cloudevents+json', 'application/json']).default('application/cloudevents+json'),
});

export const notifySchema = z.strictObject({
  webhooks: z.array(webhook).default([]),
  /** Notices waiting per webhook at most: past it, the oldest are dropped (counted), so a dead receiver holds no memory. */
  queueLimit: z.number().int().min(1).max(100_000).default(1_000),
});

export type NotifyConfig = z.output<typeof notifySchema>;
export type WebhookConfig = NotifyConfig['webhooks'][number];

/** How a webhook is named where its URL must not appear. */
export const webhookName = (w: WebhookConfig, index: number): string => w.name ?? `#${index}`;
