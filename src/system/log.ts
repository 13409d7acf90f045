/**
 * Structured logs (pino): one event a line on stderr, with pool/replica/job ids as fields. On a terminal they are
 * written for people (time, level, pool, message, the decision's reason); anywhere else, or with
 * `--log-format json` (TRIREME_LOG_FORMAT=json), one JSON object a line for log collectors.
 */
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'pretty' | 'json';

/** The format asked for, else pretty on a terminal and JSON elsewhere. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, tty = process.stderr.isTTY === true): LogFormat {
  const asked = env.TRIREME_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  return tty ? 'pretty' : 'json';
}

export function createLogger(name: string, opts: { level?: string; format?: LogFormat } = {}): Logger {
  const level = opts.level ?? process.env.TRIREME_LOG_LEVEL ?? 'info';
  const options = { name, level, base: { pid: process.pid } };
  if ((opts.format ?? logFormat()) === 'json') return pino(options, pino.destination(2));
  return pino(options, { write: (line: string) => { process.stderr.write(pretty(line, process.stderr.hasColors?.() ?? false)); } });
}

/** A logger that drops everything, for embedding and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[90m'], 30: ['INFO ', '\x1b[32m'], 40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[31m'],
};
/** Fields every line has or that the line's layout already shows. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'pool', 'reason', 'v']);

/** One pino JSON line as a line for people: `12:04:05.120 INFO  heavy  scale up  heavy: load 3 >= 1, 0 -> 3  from=0 to=3`. */
export function pretty(line: string, colour: boolean): string {
  let e: Record<string, unknown>;
  try { e = JSON.parse(line); } catch { return line; }
  const [label, tint] = LEVELS[e.level as number] ?? ['LOG  ', ''];
  const paint = (s: string, c: string) => (colour && c ? `${c}${s}\x1b[0m` : s);
  const time = new Date(Number(e.time)).toISOString().slice(11, 23);
  const parts = [paint(time, '\x1b[90m'), paint(label, tint)];
  if (e.pool) parts.push(paint(String(e.pool), '\x1b[36m'));
  parts.push(String(e.msg ?? ''));
  if (e.reason) parts.push(paint(String(e.reason), '\x1b[1m'));
  const rest = Object.entries(e).filter(([k, v]) => !SHOWN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (rest.length) parts.push(paint(rest.join(' '), '\x1b[90m'));
  return `${parts.join('  ')}\n`;
}
