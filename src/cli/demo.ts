/**
 * `serve --demo`: a built-in bursty workload so a first run shows something. Every pool gets jobs of its first task
 * (payload `{ ms }`, as the example's tasks take): pools that stay up get a steady trickle; pools that scale from zero
 * get a burst every cycle, sized to fill them, so a viewer sees them wake, grow, drain and sleep again.
 */
import type { Project } from '../project/project.js';
import type { TriremeClient } from '../jobs/client.js';
import type { Logger } from '../system/log.js';

export interface DemoOptions { cycleMs?: number; signal: AbortSignal }

export function startDemo(project: Project, client: TriremeClient, logger: Logger, opts: DemoOptions): string[] {
  const cycle = opts.cycleMs ?? 90_000;
  const plans: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (const [name, pool] of Object.entries(project.config.pools)) {
    const task = [...project.tasks.values()].find((t) => t.kind === 'function' && pool.queues.includes(project.router.queueFor(t.name, t.definition.options.queue)));
    if (!task) continue;
    const submit = (ms: number) => client.submit(task.name, { ms }).catch((err) => logger.warn({ err: (err as Error).message, task: task.name }, 'demo submit failed'));
    const jitter = (lo: number, hi: number) => Math.round(lo + Math.random() * (hi - lo));
    if (pool.scaling.min === 0) {
      // A burst a few seconds into each cycle: two rounds of work for every slot the pool can have.
      const size = Math.min(40, 2 * pool.scaling.max * pool.concurrency);
      const burst = () => { for (let i = 0; i < size; i++) void submit(jitter(3_000, 7_000)); };
      timers.push(setTimeout(burst, 5_000));
      timers.push(setInterval(() => setTimeout(burst, 5_000), cycle));
      plans.push(`${name}: a burst of ${size} ${task.name} jobs (3-7 s) every ${cycle / 1000}s`);
    } else {
      // About half of the pool's minimum capacity, so it stays up without growing much.
      const long = pool.concurrency < 4;
      const rate = Math.max(0.5, (pool.scaling.min * pool.concurrency) / (long ? 4 : 1));
      timers.push(setInterval(() => void submit(long ? jitter(1_000, 3_000) : jitter(50, 400)), Math.round(1000 / rate)));
      plans.push(`${name}: ${rate.toFixed(1)} ${task.name} jobs/s`);
    }
  }
  opts.signal.addEventListener('abort', () => { for (const t of timers) clearInterval(t); }, { once: true });
  return plans;
}
