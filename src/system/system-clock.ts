/** The real clock, for the processes that run live. (core/ never reads time itself.) */
import type { Clock } from '../core/clock.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};
