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

interface Queue { fifo: WaitingJob[]; head: number; prioritized: EventHeap<WaitingJob> }

export class PoolQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly order: Queue[] = [];
  private turn = 0;
  size = 0;

  push(queue: string, job: WaitingJob, priority = 0): void {
    let q = this.queues.get(queue);
    if (!q) {
      q = { fifo: [], head: 0, prioritized: new EventHeap() };
      this.queues.set(queue, q);
      this.order.push(q);
    }
    if (priority > 0) q.prioritized.push(priority, job);
    else q.fifo.push(job);
    this.size++;
  }

  /** The next job a free slot takes, or undefined when none waits. */
  shift(): WaitingJob | undefined {
    if (this.size === 0) return undefined;
    for (let i = 0; i < this.order.length; i++) {
      const q = this.order[(this.turn + i) % this.order.length];
      const job = q.head < q.fifo.length ? q.fifo[q.head++] : q.prioritized.pop()?.value;
      if (!job) continue;
      this.turn = (this.turn + i + 1) % this.order.length;
      if (q.head > 1024 && q.head * 2 > q.fifo.length) { q.fifo = q.fifo.slice(q.head); q.head = 0; }
      this.size--;
      return job;
    }
    return undefined;
  }
}
