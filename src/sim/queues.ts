/**
 * A pool's waiting jobs as its replicas see them: one queue per BullMQ queue the pool serves, taking turns (each
 * queue has its own fetcher in a live replica, so no queue waits behind another's backlog). Within a queue, BullMQ's
 * order: jobs without a priority first, in arrival order, then prioritized jobs, lowest number first, arrival order
 * within a number.
 */
import { EventHeap } from './heap.js';

export interface WaitingJob {
  /** When the job became runnable (its submit, or the end of its delay), ms. */
  arrival: number;
  service: number;
  /** Its line in the trace (0-based, after sorting by time). */
  index: number;
}

interface Queue {
  fifo: WaitingJob[]; head: number; prioritized: EventHeap<WaitingJob>;
  /** The prioritized jobs again, by when they became runnable (taken ones are dropped as they surface): the oldest wait. */
  byArrival: EventHeap<WaitingJob>;
}

export class PoolQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly order: Queue[] = [];
  private turn = 0;
  /** Prioritized jobs already taken but still in a `byArrival` heap. */
  private readonly taken = new Set<WaitingJob>();
  size = 0;

  push(queue: string, job: WaitingJob, priority = 0): void {
    let q = this.queues.get(queue);
    if (!q) {
      q = { fifo: [], head: 0, prioritized: new EventHeap(), byArrival: new EventHeap() };
      this.queues.set(queue, q);
      this.order.push(q);
    }
    if (priority > 0) { q.prioritized.push(priority, job); q.byArrival.push(job.arrival, job); } else q.fifo.push(job);
    this.size++;
  }

  /** The next job a free slot takes, or undefined when none waits. */
  shift(): WaitingJob | undefined {
    if (this.size === 0) return undefined;
    for (let i = 0; i < this.order.length; i++) {
      const q = this.order[(this.turn + i) % this.order.length];
      const fromFifo = q.head < q.fifo.length;
      const job = fromFifo ? q.fifo[q.head++] : q.prioritized.pop()?.value;
      if (!job) continue;
      if (!fromFifo) this.taken.add(job);
      this.turn = (this.turn + i + 1) % this.order.length;
      if (q.head > 1024 && q.head * 2 > q.fifo.length) { q.fifo = q.fifo.slice(q.head); q.head = 0; }
      this.size--;
      if (this.size === 0 && this.taken.size > 0) {
        // Every job left in the arrival heaps is taken: start them afresh rather than keep them.
        for (const other of this.order) other.byArrival = new EventHeap();
        this.taken.clear();
      }
      return job;
    }
    return undefined;
  }

  /** When the longest-waiting job became runnable (ms), or undefined when none waits. */
  oldestArrival(): number | undefined {
    if (this.size === 0) return undefined;
    let oldest: number | undefined;
    for (const q of this.order) {
      // Jobs without a priority are queued in arrival order, so the head of the list is its oldest.
      if (q.head < q.fifo.length) oldest = Math.min(oldest ?? Infinity, q.fifo[q.head].arrival);
      for (let top = q.byArrival.peek(); top && this.taken.has(top.value); top = q.byArrival.peek()) {
        this.taken.delete(top.value);
        q.byArrival.pop();
      }
      const top = q.byArrival.peek();
      if (top) oldest = Math.min(oldest ?? Infinity, top.t);
    }
    return oldest;
  }
}
