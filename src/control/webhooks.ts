/**
 * Notices to webhooks (`notify.webhooks`), as CloudEvents 1.0 in structured mode: one JSON object a notice with
 * `specversion`, `id`, `source`, `type` (`dev.trireme.pool.scaled`, ...), `subject` (the pool), `time`, `data`, and a
 * `text` extension attribute with the notice in one sentence, which is all a Slack incoming webhook reads.
 *
 * Delivery never holds the control loop up: `notify()` only appends to a bounded queue per webhook and returns. Each
 * webhook's queue is sent in order, one request at a time, each bounded by the webhook's `timeout`; a failure (a
 * network error, a timeout, a 5xx, 408 or 429) is tried again after 1 s, 2 s, 4 s ... (up to a minute, with jitter)
 * up to `retries` times, then dropped and counted, as is the oldest notice of a queue that is full. Other 4xx answers
 * are the receiver refusing this request for good: dropped at once. With a `secret`, each request carries
 * `X-Trireme-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (GitHub's scheme): the body holds the event's `id`
 * and `time`, so a receiver can refuse one it has seen or that is old.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Clock, Timer } from '../core/clock.js';
import { cloudEventType, noticeText, webhookName, type Notice, type NoticeKind, type NotifyConfig, type WebhookConfig } from '../core/notices.js';
import type { Logger } from '../system/log.js';

/** The longest wait between two tries of one notice. */
const MAX_BACKOFF_MS = 60_000;

export type Outcome = 'delivered' | 'dropped';

export interface WebhooksOptions {
  config: NotifyConfig;
  clock: Clock;
  logger: Logger;
  /** The CloudEvents `source`: which deployment sent it (`/trireme/<prefix>`). */
  source: string;
  /** Each notice's fate at each webhook, for /metrics. */
  onOutcome?: (webhook: string, outcome: Outcome, kind: NoticeKind) => void;
  /** The User-Agent sent. */
  userAgent?: string;
}

/** A CloudEvent (structured mode) for a notice. */
export function cloudEvent(n: Notice, source: string, id = randomUUID()): Record<string, unknown> {
  const { kind, at, ...data } = n;
  return {
    specversion: '1.0', id, source, type: cloudEventType(kind),
    ...('pool' in n ? { subject: n.pool } : {}),
    time: new Date(at).toISOString(), datacontenttype: 'application/json',
    text: noticeText(n),
    data,
  };
}

/** The signature header's value for a body: `sha256=<hex>`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** One webhook's queue and the loop that sends it. */
class Outlet {
  private readonly queue: { notice: Notice; body: string }[] = [];
  private sending = false;
  private closed = false;
  private wait?: { timer: Timer; wake: () => void };
  private inFlight?: AbortController;

  constructor(private readonly w: WebhookConfig, readonly name: string, private readonly limit: number, private readonly o: WebhooksOptions) {}

  wants(kind: NoticeKind): boolean { return !this.w.events || this.w.events.includes(kind); }

  get pending(): number { return this.queue.length; }

  push(notice: Notice): void {
    if (this.closed) return;
    if (this.queue.length >= this.limit) {
      const dropped = this.queue.shift()!;
      this.o.onOutcome?.(this.name, 'dropped', dropped.notice.kind);
      this.o.logger.warn({ webhook: this.name, type: cloudEventType(dropped.notice.kind), limit: this.limit }, 'webhook queue full: oldest notice dropped');
    }
    this.queue.push({ notice, body: JSON.stringify(cloudEvent(notice, this.o.source)) });
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length && !this.closed) {
        // Off the queue while it is sent: the queue's limit counts notices waiting behind it.
        const item = this.queue.shift()!;
        const ok = await this.deliver(item.body);
        this.o.onOutcome?.(this.name, ok ? 'delivered' : 'dropped', item.notice.kind);
      }
    } finally {
      this.sending = false;
    }
  }

  /** Sends one body, trying again on failures worth retrying; whether it was delivered. */
  private async deliver(body: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.send(body);
      if (result === 'ok') return true;
      const last = attempt >= this.w.retries || result.final || this.closed;
      this.o.logger.warn({ webhook: this.name, attempt: attempt + 1, err: result.error, ...(last ? {} : { retryInMs: this.backoff(attempt) }) },
        last ? 'webhook delivery failed: notice dropped' : 'webhook delivery failed: trying again');
      if (last) return false;
      await this.sleep(this.backoff(attempt));
      if (this.closed) return false;
    }
  }

  private backoff(attempt: number): number {
    const base = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** attempt);
    // Jitter (0.8x to 1.2x): several controllers' webhooks must not retry in step.
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimeout(() => { this.wait = undefined; resolve(); }, ms);
      this.wait = { timer, wake: resolve };
    });
  }

  private async send(body: string): Promise<'ok' | { error: string; final: boolean }> {
    const abort = new AbortController();
    this.inFlight = abort;
    const timer = this.o.clock.setTimeout(() => abort.abort(new Error(`no answer within ${this.w.timeout} ms`)), this.w.timeout);
    try {
      const headers: Record<string, string> = { 'content-type': `${this.w.contentType}; charset=utf-8`, 'user-agent': this.o.userAgent ?? 'trireme' };
      if (this.w.secret) headers['x-trireme-signature-256'] = signature(this.w.secret, body);
      const res = await fetch(this.w.url, { method: 'POST', headers, body, signal: abort.signal, redirect: 'error' });
      // The body is not needed; reading it frees the connection for the next delivery.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'ok';
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      return { error: `HTTP ${res.status}`, final: !retry };
    } catch (e) {
      const err = abort.signal.aborted ? (abort.signal.reason as Error)?.message ?? 'aborted' : (e as Error).cause ? `${(e as Error).message}: ${((e as Error).cause as Error).message}` : (e as Error).message;
      return { error: err, final: false };
    } finally {
      timer.cancel();
      this.inFlight = undefined;
    }
  }

  /** Stops: no new notices, no more retries; a request under way is cut off. What is left is dropped. */
  close(): number {
    this.closed = true;
    this.inFlight?.abort(new Error('closing'));
    this.wait?.timer.cancel();
    this.wait?.wake();
    const left = this.queue.length;
    for (const item of this.queue.splice(0)) this.o.onOutcome?.(this.name, 'dropped', item.notice.kind);
    return left;
  }

  /** Resolves once the queue is empty (or `ms` of the clock's time passed). */
  async drained(ms: number): Promise<void> {
    const end = this.o.clock.now() + ms;
    while ((this.queue.length || this.sending) && this.o.clock.now() < end) {
      await new Promise<void>((r) => { this.o.clock.setTimeout(r, 50); });
    }
  }
}

/** Every configured webhook, each with its own queue. */
export class Webhooks {
  private readonly outlets: Outlet[];

  constructor(private readonly o: WebhooksOptions) {
    this.outlets = o.config.webhooks.map((w, i) => new Outlet(w, webhookName(w, i), o.config.queueLimit, o));
  }

  get size(): number { return this.outlets.length; }

  /** Queues a notice for every webhook that takes its kind; returns at once. */
  notify(n: Notice): void {
    for (const out of this.outlets) if (out.wants(n.kind)) out.push(n);
  }

  /** Notices waiting, by webhook. */
  pending(): Record<string, number> {
    return Object.fromEntries(this.outlets.map((x) => [x.name, x.pending]));
  }

  /** Gives what is queued up to `graceMs` to go out, then stops; what is left is dropped (counted and logged). */
  async close(graceMs = 2_000): Promise<void> {
    await Promise.all(this.outlets.map((x) => x.drained(graceMs)));
    for (const x of this.outlets) {
      const left = x.close();
      if (left) this.o.logger.warn({ webhook: x.name, dropped: left }, 'stopping: notices not delivered were dropped');
    }
  }
}
