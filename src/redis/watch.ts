/**
 * Whether Redis answers, watched from `serve`: every connection of serve waits out an outage by itself, silently (a
 * Redis restart is an outage to wait out, not a crash), so without a watch a dead Redis goes unreported. A PING every
 * second on a connection of its own; two missed in a row start an outage, logged once (warn), and the first answer
 * after it ends it, logged once (info) with how long it lasted. `/readyz` reads the outage to say why it is not ready.
 * A failover (Sentinel naming another primary, a Cluster promoting a replica) is logged too, once, with both primaries.
 */
import type { Clock, Timer } from '../core/clock.js';
import { formatDuration } from '../core/units.js';
import type { Logger } from '../system/log.js';
import { connect, describeUrl, endpointOf, type Redis } from './connection.js';
import { within } from '../system/deadline.js';

export interface RedisOutage {
  /** When the first missed PING was sent (ms since the epoch). */
  since: number;
  /** What the connection last said (refused, reset, a timeout), for people. */
  error: string;
}

export interface RedisWatchOptions {
  url: string;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  /** PINGs missed in a row before it counts as an outage (a blip of one is not news). */
  misses?: number;
  /** Sends one PING; the real one uses its own fail-fast connection. */
  ping?: () => Promise<unknown>;
}

export class RedisWatch {
  private readonly redis?: Redis;
  private readonly ping: () => Promise<unknown>;
  private readonly intervalMs: number;
  private readonly misses: number;
  private missed = 0;
  private firstMissAt = 0;
  /** The connection's last error event, cleared by an answer. */
  private lastError?: string;
  private current?: RedisOutage;
  private timer?: Timer;
  private stopped = false;
  /** The primary (or a Cluster's primaries) the watch's connection was on at its last answer. */
  private primary?: string;

  constructor(private readonly opts: RedisWatchOptions) {
    this.intervalMs = opts.intervalMs ?? 1_000;
    this.misses = opts.misses ?? 2;
    if (opts.ping) {
      this.ping = opts.ping;
    } else {
      // Fail-fast: while Redis is away a PING fails at once instead of waiting in the offline queue.
      const redis = this.redis = connect(opts.url, 'trireme-watch', { failFast: true });
      redis.on('error', (e: Error) => { this.lastError = e.message; });
      // A server that goes away closes the socket first; its reconnect errors (refused) may come only after the
      // PINGs have failed with ioredis' own "max retries" message, which says nothing about Redis: say it closed.
      redis.on('close', () => { this.lastError ??= 'Connection is closed.'; });
      this.ping = () => redis.ping();
    }
  }

  /** The outage under way, if any. */
  get outage(): RedisOutage | undefined { return this.current; }

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (!this.stopped) this.timer = this.opts.clock.setTimeout(() => void this.check(), this.intervalMs);
  }

  /** One PING and what it changes; exposed for tests that drive a manual clock. */
  async check(): Promise<void> {
    const sentAt = this.opts.clock.now();
    let pingError: string | undefined;
    const ok = await within(this.ping().then(() => true, (e: Error) => { pingError = e.message; return false; }), this.intervalMs, false);
    if (this.stopped) return;
    if (ok) {
      this.missed = 0;
      this.lastError = undefined;
      this.notePrimary();
      const was = this.current;
      if (was) {
        this.current = undefined;
        const downMs = this.opts.clock.now() - was.since;
        this.opts.logger.info({ redis: describeUrl(this.opts.url), downMs, lasted: formatDuration(downMs) }, 'Redis answers again');
      }
    } else {
      if (this.missed++ === 0) this.firstMissAt = sentAt;
      if (!this.current && this.missed >= this.misses) {
        // The connection's own error (refused, reset) says more than the PING's ("Stream isn't writeable").
        this.current = { since: this.firstMissAt, error: this.lastError ?? pingError ?? `no answer to PING within ${formatDuration(this.intervalMs)}` };
        this.opts.logger.warn({ redis: describeUrl(this.opts.url), err: this.current.error },
          'Redis does not answer: scaling is on hold and submits are refused until it is back');
      }
    }
    this.schedule();
  }

  /** Logs a change of primary: the connection reconnected to another one (a failover, or Redis moved). */
  private notePrimary(): void {
    if (!this.redis) return;
    const e = endpointOf(this.redis, this.opts.url);
    const now = e.primary ?? e.primaries?.join(',');
    if (!now) return;
    if (this.primary && now !== this.primary) {
      this.opts.logger.warn({ redis: describeUrl(this.opts.url), from: this.primary, to: now }, `Redis primary changed: ${this.primary} -> ${now} (a failover); every connection follows it`);
    }
    this.primary = now;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.redis?.disconnect();
  }
}
