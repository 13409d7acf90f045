/**
 * What a replica counts between heartbeats, per queue (stores/registry.ts adds it into Redis on the next beat):
 * outcomes, service time, duration and queue-wait histogram buckets, cold starts.
 */
import { bucketIndex } from '../core/histogram.js';
import { addTally, emptyTally, type QueueTally } from '../stores/registry.js';
import type { ReplicaJob } from './parts.js';

export class Tallies {
  private byQueue = new Map<string, QueueTally>();

  /** What was counted since the last call; counting starts afresh. */
  take(): Map<string, QueueTally> {
    const taken = this.byQueue;
    this.byQueue = new Map();
    return taken;
  }

  /** Tallies a heartbeat could not deliver, added back for the next one. */
  putBack(tallies: Map<string, QueueTally>): void {
    for (const [q, t] of tallies) addTally(this.of(q), t);
  }

  /**
   * Counts one finished job into its queue's tally, in place (this runs for every job: no allocation): outcome,
   * service time, its duration bucket and, on its first attempt, its queue wait and whether it was a cold start.
   */
  record(queue: string, job: ReplicaJob, outcome: 'completed' | 'failed' | 'cancelled', began: number, ended: number, readyAt: number): void {
    const t = this.of(queue);
    if (outcome === 'completed') t.completed++; else t.failed++;
    if (outcome === 'cancelled') t.cancelled++;
    const ms = ended - began;
    t.serviceMs += ms;
    const d = bucketIndex(ms / 1000);
    t.duration[d] = (t.duration[d] ?? 0) + 1;
    if (job.attemptsMade === 0) {
      // Waiting starts when the job became runnable: submission plus any delay it was given.
      const waitMs = Math.max(0, began - job.timestamp - (job.opts.delay ?? 0));
      const w = bucketIndex(waitMs / 1000);
      t.waits++; t.waitMs += waitMs;
      t.wait[w] = (t.wait[w] ?? 0) + 1;
      // A cold start: the job was runnable before this replica was ready, so it waited for a replica to start.
      if (job.timestamp + (job.opts.delay ?? 0) < readyAt) t.cold++;
    }
    // A run of a job schedule: its last run is what `trireme schedules` shows.
    if (job.repeatJobKey) (t.scheduled ??= {})[job.repeatJobKey] = { jobId: job.id!, startedAt: began, finishedAt: ended, outcome };
  }

  private of(queue: string): QueueTally {
    let t = this.byQueue.get(queue);
    if (!t) this.byQueue.set(queue, (t = emptyTally()));
    return t;
  }
}
