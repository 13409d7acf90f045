/** Structured logs: one JSON line per event on stderr (pino), with pool/replica/job ids as fields. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.TRIREME_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything, for embedding and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
