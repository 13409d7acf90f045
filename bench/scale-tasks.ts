/** The task of bench/scale.ts: records its start latency in memory, then sleeps. */
import { defineTask } from '../src/index.js';

/** On globalThis: the replica may load this module apart from the bench's own import of it (its task loader). */
const g = globalThis as { scaleLatencies?: number[] };
export const latencies: number[] = (g.scaleLatencies ??= []);

export const sleep = defineTask('scale.sleep', async (p: { ms: number; sentAt: number; open?: boolean }) => {
  if (p.open) latencies.push(Date.now() - p.sentAt);
  await new Promise((r) => setTimeout(r, p.ms));
  return null;
});
