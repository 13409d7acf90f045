/**
 * What Trireme reads of a Celery broker, one implementation per broker (celery-redis.ts, celery-amqp.ts; the registry
 * in signals/index.ts): the depth of each queue, the workers' event stream, and remote control (which queues each
 * worker consumes; telling one to stop consuming). KEDA's scalers have this shape: one narrow interface, one file a
 * source, and nothing of the decision in it.
 */
import type { BrokerDepth, CeleryEvent } from './celery-workers.js';

export interface ControlOptions {
  /** The workers (node names) the command is for; every worker when left out. */
  destination?: string[];
  /** How long to collect replies (stops earlier once every destination answered). */
  timeoutMs: number;
}

export interface CeleryBroker {
  /**
   * How long after a worker said it stopped consuming a message may still reach it (0: none). kombu's Redis transport
   * has a BRPOP of up to 1 s in flight: what it pops is delivered after the cancel, and lost if the worker is gone.
   */
  readonly settleMs: number;
  /** Messages ready in each queue (every priority level); reserved, unacknowledged ones where the broker can tell. */
  depths(queues: string[]): Promise<Map<string, BrokerDepth>>;
  /** Delivers the workers' events from now on (each event of a `task.multi` message on its own). */
  subscribe(onEvent: (e: CeleryEvent) => void): Promise<void>;
  /**
   * Hands back to their queues the messages of these tasks that a dead worker had taken and not acknowledged; returns
   * how many. Only where the broker does not do it itself: RabbitMQ requeues them when the worker's connection drops,
   * kombu's Redis transport only after visibility_timeout (an hour by default) and a worker's next restore pass.
   */
  handBack?(taskIds: string[]): Promise<number>;
  /** A remote-control command (`celery inspect` / `celery control`); the replies by node name. */
  control(method: string, args: Record<string, unknown>, o: ControlOptions): Promise<Map<string, unknown>>;
  close(): Promise<void>;
}
