/**
 * The chaos suite's tasks: each run appends a start line and, when it finishes, an end line to a file outside Redis
 * (`S <job id> <attempt> <pid> <ms since the epoch>` / `E <job id>`), so runs are counted even across Redis restarts
 * and failovers, and when they began is known. Lines are short O_APPEND writes: whole lines, never interleaved.
 */
import { appendFileSync } from 'node:fs';
import { defineTask, type TaskContext } from '../../src/core/task.js';

export interface ChaosPayload { i: number; ms: number; runs: string }

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

async function run(p: ChaosPayload, ctx: TaskContext) {
  appendFileSync(p.runs, `S ${ctx.jobId} ${ctx.attempt} ${process.pid} ${Date.now()}\n`);
  await sleep(p.ms, ctx.signal);
  appendFileSync(p.runs, `E ${ctx.jobId}\n`);
  return { i: p.i };
}

const opts = { retries: 3, backoff: { type: 'fixed' as const, delay: 200 } };
export const light = defineTask('chaos.light', run, opts);
export const medium = defineTask('chaos.medium', run, opts);
export const heavy = defineTask('chaos.heavy', run, opts);
