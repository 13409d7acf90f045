/**
 * Example tasks for the three tiers. Each takes { ms, cpu?, fail?, crash? }: sleep (or burn CPU) for ms, then fail
 * or crash the process on request, so the example can show retries, time limits and recovery.
 */
import { defineTask, type TaskContext } from 'trireme-jobs';

interface Work { ms?: number; cpu?: boolean; fail?: boolean; crash?: boolean }

async function work(p: Work, ctx: TaskContext): Promise<{ ms: number; pid: number }> {
  const ms = Math.max(0, Number(p.ms ?? 100));
  ctx.log(`working ${ms} ms${p.cpu ? ' on the CPU' : ''}`);
  const end = Date.now() + ms;
  const step = Math.max(50, ms / 10);
  let n = 0;
  while (Date.now() < end) {
    if (ms >= 1_000) ctx.log(`step ${++n}: ${Math.max(0, end - Date.now())} ms to go`);
    if (ctx.signal.aborted) throw new Error('aborted');
    if (p.cpu) { const until = Math.min(end, Date.now() + step); while (Date.now() < until) { /* burn */ } }
    else await new Promise((r) => setTimeout(r, Math.min(step, end - Date.now())));
    ctx.progress(Math.min(100, Math.round(100 - ((end - Date.now()) / ms) * 100)));
  }
  if (p.crash) process.exit(13);
  if (p.fail) throw new Error('failed on request');
  return { ms, pid: process.pid };
}

const opts = { retries: 1, backoff: { type: 'exponential' as const, delay: 1_000 } };

// light tier
export const ping = defineTask('api.ping', work, opts);
export const notify = defineTask('notify.send', work, opts);
export const cacheRefresh = defineTask('cache.refresh', work, opts);
// medium tier
export const report = defineTask('reports.daily', work, opts);
export const analytics = defineTask('analytics.rollup', work, opts);
export const aggregate = defineTask('aggregate.metrics', work, opts);
// heavy tier
export const shap = defineTask('shap.explain', work, opts);
export const causal = defineTask('causal.refute', work, opts);
export const train = defineTask('ml.train', work, opts);
export const twins = defineTask('twins.generate', work, opts);
