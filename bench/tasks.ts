/** The benchmark's task: does nothing, so the table measures the engine, not the work. */
import { defineTask } from '../src/index.js';

export const noop = defineTask('bench.noop', () => null);
