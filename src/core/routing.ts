/**
 * Task name -> queue -> pool. Routes are glob patterns tried in order, first match wins; an explicit queue given at
 * submit time wins over every route; a name no route matches goes to the default queue.
 */
import picomatch from 'picomatch';

export interface Route { match: string; queue: string }

export class Router {
  private readonly matchers: { test: (name: string) => boolean; queue: string }[];
  private readonly poolOfQueue = new Map<string, string>();

  constructor(routes: Route[], readonly defaultQueue: string, pools: Record<string, { queues: string[] }>) {
    // Task names use dots as separators, so `*` must cross them: `shap.*` matches `shap.explain.v2` too.
    this.matchers = routes.map((r) => ({ test: picomatch(r.match, { dot: true, contains: false, basename: false, bash: true }), queue: r.queue }));
    for (const [pool, def] of Object.entries(pools)) for (const q of def.queues) this.poolOfQueue.set(q, pool);
  }

  /** The queue a task goes to. */
  queueFor(task: string, explicitQueue?: string): string {
    if (explicitQueue) return explicitQueue;
    for (const m of this.matchers) if (m.test(task)) return m.queue;
    return this.defaultQueue;
  }

  /** The pool serving a queue, or undefined when no pool serves it. */
  poolFor(queue: string): string | undefined {
    return this.poolOfQueue.get(queue);
  }

  /** Every queue some pool serves. */
  queues(): string[] {
    return [...this.poolOfQueue.keys()];
  }
}
