/**
 * The connection cap (`api.maxConnections`) with room kept for health checks. Node refuses connections past
 * `server.maxConnections` before reading a byte, so with the cap reached (slow clients holding connections until
 * `api.requestTimeout` cuts them), a liveness probe would be refused too and the controller restarted for nothing.
 *
 * The server takes HEALTH_RESERVE connections past the cap. A request on one of those is answered only for the health
 * routes (`/healthz`, `/readyz`; others get 503 saying why), with `connection: close`, and such a connection is
 * closed after RESERVE_MS whatever it does: a slow client that fills the reserve too is gone within seconds.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError } from './errors.js';

/** Connections taken past the cap, for health checks only. */
export const HEALTH_RESERVE = 8;
/** How long a connection past the cap may live: a health check takes milliseconds. */
const RESERVE_MS = 5_000;
const HEALTH = new Set(['/healthz', '/readyz']);

export class ConnectionCap {
  private open = 0;
  private readonly pastCap = new WeakSet<Socket>();

  constructor(private readonly max: number) {}

  attach(server: Server): void {
    server.maxConnections = this.max + HEALTH_RESERVE;
    server.on('connection', (socket: Socket) => {
      this.open++;
      socket.once('close', () => { this.open--; });
      if (this.open <= this.max) return;
      this.pastCap.add(socket);
      const timer = setTimeout(() => socket.destroy(), RESERVE_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
  }

  /** Whether a connection was taken past the cap (its requests: health routes only, then close; see check). */
  beyond(socket: Socket): boolean { return this.pastCap.has(socket); }

  /** For a request on a connection past the cap: throws 503 unless it is a health check. */
  check(url: string): void {
    if (HEALTH.has(url.split('?')[0])) return;
    throw new ApiError(503, 'too_many_connections', `the API holds api.maxConnections (${this.max}) connections; past them only /healthz and /readyz are answered. Retry shortly, or raise api.maxConnections`);
  }
}
