/**
 * Schedules: time windows (days and HH:MM, in a fixed UTC offset) that override a pool's min and max, e.g. keep two
 * heavy replicas warm during business hours. The last window that matches wins.
 */

export interface ScheduleWindow { days?: string[]; from: string; to: string; utcOffsetMinutes: number; min?: number; max?: number }

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function windowActive(w: ScheduleWindow, now: number): boolean {
  const local = new Date(now + w.utcOffsetMinutes * 60_000);
  const day = DAYS[local.getUTCDay()];
  const at = local.getUTCHours() * 60 + local.getUTCMinutes();
  const from = minutes(w.from);
  const to = minutes(w.to);
  if (from <= to) return (!w.days || w.days.includes(day)) && at >= from && at < to;
  // A window past midnight (22:00-06:00) belongs to the day it starts on.
  const yesterday = DAYS[(local.getUTCDay() + 6) % 7];
  return (at >= from && (!w.days || w.days.includes(day))) || (at < to && (!w.days || w.days.includes(yesterday)));
}

/** min and max in force at `now`, and the window that set them (if any). */
export function bounds(min: number, max: number, windows: ScheduleWindow[], now: number): { min: number; max: number; window?: string } {
  let out: { min: number; max: number; window?: string } = { min, max };
  for (const w of windows) {
    if (!windowActive(w, now)) continue;
    const wMax = w.max ?? Math.max(out.max, w.min ?? 0);
    out = { min: Math.min(w.min ?? out.min, wMax), max: wMax, window: `${w.days?.join(',') ?? 'daily'} ${w.from}-${w.to}` };
  }
  return out;
}
