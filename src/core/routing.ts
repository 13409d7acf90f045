/**
 * Task name -> queue -> pool. Routes are glob patterns tried in order, first match wins; an explicit queue given at
 * submit time wins over every route; a name no route matches goes to the default queue.
 */
import picomatch from 'picomatch';

export interface Route { match: string; queue: string }

export class Router {
  private readonly matchers: { test: (name: string) => boolean; queue: string }[];
  private readonly poolOfQueue = new Map<string, string>();
  /** Task names already routed: a submit matches the globs once per name, not once per job. */
  private readonly routed = new Map<string, string>();

  constructor(routes: Route[], readonly defaultQueue: string, pools: Record<string, { queues: string[] }>) {
    // Task names use dots as separators, so `*` must cross them: `shap.*` matches `shap.explain.v2` too.
    this.matchers = routes.map((r) => ({ test: picomatch(r.match, { dot: true, contains: false, basename: false, bash: true }), queue: r.queue }));
    for (const [pool, def] of Object.entries(pools)) for (const q of def.queues) this.poolOfQueue.set(q, pool);
  }

  /** The queue a task goes to. */
  queueFor(task: string, explicitQueue?: string): string {
    if (explicitQueue) return explicitQueue;
    const known = this.routed.get(task);
    if (known !== undefined) return known;
    const queue = this.matchers.find((m) => m.test(task))?.queue ?? this.defaultQueue;
    // Bounded: a caller inventing task names cannot grow it without limit.
    if (this.routed.size >= 4096) this.routed.clear();
    this.routed.set(task, queue);
    return queue;
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
