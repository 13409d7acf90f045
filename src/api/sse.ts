/**
 * Server-sent events on a raw reply: headers, one `event:`/`data:` frame per message, a comment every 15 s so
 * proxies keep the connection open, and `closed` when the client goes away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export class EventStream {
  private readonly keepAlive: NodeJS.Timeout;
  private readonly abort = new AbortController();

  constructor(req: FastifyRequest, private readonly reply: FastifyReply) {
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tells nginx not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.keepAlive = setInterval(() => reply.raw.write(': keep-alive\n\n'), 15_000);
    // HEAD: the headers are the answer; holding the connection open would hang a client that expects no body.
    if (req.method === 'HEAD') { this.close(); return; }
    reply.raw.write('retry: 2000\n\n');
    const onClose = () => this.close();
    req.raw.on('close', onClose);
    reply.raw.on('error', onClose);
  }

  /** Aborts when the client disconnects or the stream is closed. */
  get signal(): AbortSignal { return this.abort.signal; }
  get closed(): boolean { return this.abort.signal.aborted; }

  send(event: string, data: unknown): void {
    if (this.closed) return;
    this.reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    if (this.closed) return;
    clearInterval(this.keepAlive);
    this.abort.abort();
    this.reply.raw.end();
  }
}
