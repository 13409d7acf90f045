/**
 * Duration and size parsing for config values: `90s`, `15m`, `1h30m`, `250ms` and `512Mi`, `2Gi`, `1.5G`.
 * Plain numbers are taken as milliseconds (durations) or bytes (sizes) so that programmatic configs need no strings.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, m: 1e6, g: 1e9, t: 1e12,
  ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3, ti: 1024 ** 4,
};

/** Parses `1h30m`, `90s`, `250ms` (or a number of milliseconds) into milliseconds; throws with a hint on bad input. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`must be a non-negative duration, got ${input}`);
    return input;
  }
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(text); m; m = part.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new Error(`"${input}" is not a duration; write it like 250ms, 90s, 15m, 1h30m or 2d`);
  }
  return total;
}

/** Parses `512Mi`, `2Gi`, `1.5G`, `100k` (or a number of bytes) into bytes. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`must be a non-negative size, got ${input}`);
    return input;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?|b)?b?$/i.exec(input.trim());
  if (!m) throw new Error(`"${input}" is not a size; write it like 512Mi, 2Gi, 1.5G or a number of bytes`);
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]);
}

/** Formats milliseconds for people: 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) { parts.push(`${Math.floor(s / size)}${unit}`); s %= size; }
  }
  if (s || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}

/** Formats bytes with binary units: 2147483648 -> "2Gi". */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['Ti', 1024 ** 4], ['Gi', 1024 ** 3], ['Mi', 1024 ** 2], ['Ki', 1024]] as const) {
    if (bytes >= size) return `${+(bytes / size).toFixed(1)}${unit}`;
  }
  return `${bytes}B`;
}
