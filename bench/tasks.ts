/**
 * The benchmark's task: does nothing but count, so the table measures the engine, not the work. The probe is shared
 * by the Trireme task and the plain BullMQ processor, and timestamps 10 % and 90 % of a round without polling Redis.
 */
import { defineTask } from '../src/index.js';

const makeProbe = () => ({
  target: 0, n: 0, t10: 0, t90: 0, done: () => {},
  reset(target: number, done: () => void) { Object.assign(this, { target, n: 0, t10: 0, t90: 0, done }); },
  tick() {
    this.n++;
    if (this.n === Math.ceil(this.target * 0.1)) this.t10 = performance.now();
    if (this.n === Math.ceil(this.target * 0.9)) { this.t90 = performance.now(); this.done(); }
  },
});

/**
 * One probe per process, on globalThis: the replica loads this module through its task loader (tsx's CommonJS hook),
 * the benchmark through ESM, and each gets its own module instance, so a module-level object would be two probes.
 */
const g = globalThis as typeof globalThis & { __triremeBenchProbe?: ReturnType<typeof makeProbe> };
export const probe = (g.__triremeBenchProbe ??= makeProbe());

export const noop = defineTask('bench.noop', () => { probe.tick(); return null; });
