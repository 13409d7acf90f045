/**
 * "Acknowledged means kept": Redis replicates asynchronously, so a write the primary acknowledged can be lost when
 * the primary dies before a replica has it and a replica is promoted. WAIT N T, sent on the connection that wrote,
 * returns once N replicas have every write that connection sent before it (or T has passed, with how many did).
 *
 * Two things make that a promise rather than a hope:
 * - WAIT counts this connection's writes. If the connection was lost between the write and the WAIT (the primary
 *   died; ioredis reconnected to the new primary through Sentinel, or the Cluster moved the slot), a WAIT on the new
 *   connection covers none of them and answers at once. So each write notes the connection's epoch (its count of
 *   disconnections) and the node before it is sent, and a confirmation holds only if both are the same after WAIT.
 * - On a Cluster, WAIT must go to the primary that took the write: the node serving the queue's slot.
 *
 * WAITs are shared (group commit): every write confirmed while no WAIT is pending for its node joins the next one,
 * sent on the next turn of the event loop, so a thousand concurrent submits cost a handful of WAITs.
 */
import type { Cluster, Redis as Server } from 'ioredis';
import type { Redis } from './connection.js';
import { within } from '../system/deadline.js';

/** Where a write went and the state of that connection before it was sent. */
export interface WriteToken { node?: Server; epoch: number; slot?: number }

export type Confirmation = { ok: true } | { ok: false; replicas: number; why: string };

interface Pending { waiters: { token: WriteToken; resolve: (c: Confirmation) => void }[] }

export class ReplicationWait {
  private readonly epochs = new WeakMap<Server, number>();
  private readonly pending = new Map<Server, Pending>();
  private readonly slots = new Map<string, number>();

  constructor(private readonly redis: Redis, readonly replicas: number, readonly timeoutMs: number) {}

  /**
   * Before a write whose keys hash like `key` (any key of the queue): where it will go and that connection's epoch.
   * On a Cluster that needs the slot map, so the first write of a queue waits for it (and one CLUSTER KEYSLOT).
   */
  async before(key: string): Promise<WriteToken> {
    if (!this.redis.isCluster) return this.tokenFor(this.redis as Server);
    const cluster = this.redis as Cluster;
    if (cluster.status !== 'ready') await new Promise<void>((resolve) => cluster.once('ready', () => resolve()));
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = Number(await cluster.cluster('KEYSLOT', key));
      this.slots.set(key, slot);
    }
    const node = this.nodeOf(cluster, slot);
    return node ? { ...this.tokenFor(node), slot } : { epoch: -1, slot };
  }

  /** After the write was acknowledged: resolves once `replicas` replicas hold it, or says why it cannot be sure. */
  confirm(token: WriteToken): Promise<Confirmation> {
    const node = token.node;
    if (!node) return Promise.resolve({ ok: false, replicas: 0, why: 'the cluster did not say which node serves the queue' });
    return new Promise((resolve) => {
      let batch = this.pending.get(node);
      if (!batch) {
        const created: Pending = { waiters: [] };
        batch = created;
        this.pending.set(node, created);
        setImmediate(() => void this.send(node, created));
      }
      batch.waiters.push({ token, resolve });
    });
  }

  private async send(node: Server, batch: Pending): Promise<void> {
    // Writes confirmed from now on need a WAIT sent after them: the next batch.
    this.pending.delete(node);
    let replicas = 0;
    let failed: string | undefined;
    if (node.status !== 'ready') {
      // A node the cluster dropped (its primary died) never answers: its commands would wait forever.
      failed = `the connection to ${node.options.host}:${node.options.port} is ${node.status}`;
    } else {
      // Bounded: WAIT answers within its timeout, unless the connection is lost meanwhile (then it would wait on).
      const answer = await within(node.wait(this.replicas, this.timeoutMs).then(Number, (e: Error) => e.message), this.timeoutMs + 1_000, 'no answer');
      if (typeof answer === 'number') replicas = answer; else failed = answer;
    }
    const epoch = this.epochs.get(node) ?? 0;
    for (const { token, resolve } of batch.waiters) {
      const moved = token.slot !== undefined && this.nodeOf(this.redis as Cluster, token.slot) !== node;
      if (failed) resolve({ ok: false, replicas: 0, why: `WAIT failed: ${failed}` });
      else if (token.epoch !== epoch || moved) resolve({ ok: false, replicas: 0, why: 'the connection to the primary was lost after the write (a failover?), so no replica can be counted for it' });
      else if (replicas < this.replicas) resolve({ ok: false, replicas, why: `${replicas} of ${this.replicas} replica(s) confirmed it within ${this.timeoutMs} ms` });
      else resolve({ ok: true });
    }
  }

  private tokenFor(node: Server): WriteToken {
    if (!this.epochs.has(node)) {
      this.epochs.set(node, 0);
      node.on('close', () => this.epochs.set(node, (this.epochs.get(node) ?? 0) + 1));
    }
    return { node, epoch: this.epochs.get(node)! };
  }

  /** The connection of the primary that serves `slot`, as the cluster's slot map says now. */
  private nodeOf(cluster: Cluster, slot: number): Server | undefined {
    const key = cluster.slots[slot]?.[0];
    return key ? cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key) : undefined;
  }
}
