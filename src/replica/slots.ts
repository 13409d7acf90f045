/**
 * One pool replica consumes several queues with one concurrency. BullMQ runs one Worker per queue, each with its own
 * concurrency, so the gate keeps the pool's total: it lends free slots to the queue workers (setting each one's
 * `concurrency`) and a job that arrives when every slot is taken is handed back by the caller. A queue worker keeps
 * at least one fetch open (BullMQ needs concurrency >= 1), so the overshoot is bounded by the number of queues - 1,
 * and only while several queues receive work at the same instant.
 */

export interface Adjustable { concurrency: number }

export class SlotGate {
  private total = 0;
  private readonly running = new Map<string, number>();
  private readonly workers = new Map<string, Adjustable>();

  constructor(readonly capacity: number) {}

  attach(queue: string, worker: Adjustable): void {
    this.workers.set(queue, worker);
    this.running.set(queue, 0);
    this.rebalance();
  }

  get busy(): number { return this.total; }

  tryAcquire(queue: string): boolean {
    if (this.total >= this.capacity) return false;
    this.total++;
    this.running.set(queue, (this.running.get(queue) ?? 0) + 1);
    this.rebalance();
    return true;
  }

  release(queue: string): void {
    this.total--;
    this.running.set(queue, (this.running.get(queue) ?? 1) - 1);
    this.rebalance();
  }

  private rebalance(): void {
    const free = this.capacity - this.total;
    const share = Math.ceil(free / Math.max(1, this.workers.size));
    for (const [queue, worker] of this.workers) {
      worker.concurrency = Math.max(1, (this.running.get(queue) ?? 0) + share);
    }
  }
}
